"""``maiasim validate`` refuses, with exit 2 and one line, everything ``run`` would refuse."""

import copy
from pathlib import Path

import pytest
import yaml
from conftest import SMALL

from maiasim import cli, workload
from maiasim.errors import ScenarioError

ROOT = Path(__file__).resolve().parents[1]


def _write(tmp_path: Path, data: dict, name: str = "s.yaml") -> str:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(p)


def _traced(path: str, **engine) -> dict:
    data = copy.deepcopy(SMALL)
    data["workload"][0]["arrival"] = {"type": "trace", "path": path}
    data["workload"][0]["prompt_tokens"] = {"type": "trace"}
    data["workload"][0]["output_tokens"] = {"type": "trace"}
    if engine:
        data["engine"] = engine
    return data


def _refused(capsys, path: str, *words: str) -> None:
    assert cli.main(["validate", path]) == 2
    out, err = capsys.readouterr()
    assert "valid." not in out
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for w in words:
        assert w in lines[0], err


def test_missing_trace_file(tmp_path, capsys):
    _refused(capsys, _write(tmp_path, _traced("nowhere.csv")), "trace file not found",
             "nowhere.csv")


def test_missing_length_trace_file(tmp_path, capsys):
    data = copy.deepcopy(SMALL)
    data["workload"][0]["prompt_tokens"] = {"type": "trace", "path": "lengths.csv"}
    _refused(capsys, _write(tmp_path, data), "trace file not found", "lengths.csv")


def test_unknown_azure_alias(tmp_path, capsys):
    _refused(capsys, _write(tmp_path, _traced("azure:nope")), "azure:nope",
             "azure:conv, azure:code")


def test_trace_with_nan_token_count(tmp_path, capsys):
    (tmp_path / "t.csv").write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n0,100,10\n1,NaN,10\n", encoding="utf-8")
    _refused(capsys, _write(tmp_path, _traced("t.csv")), "t.csv", "line 3", "ContextTokens")


def test_trace_workload_over_max_requests(tmp_path, capsys):
    _refused(capsys, _write(tmp_path, _traced("azure:conv", max_requests=10)),
             "max_requests")


def test_poisson_workload_over_max_requests(tmp_path, capsys):
    data = copy.deepcopy(SMALL)
    data["engine"] = {"max_requests": 100}  # 4/s x 60 s = 240 expected
    _refused(capsys, _write(tmp_path, data), "'chat'", "max_requests")


def test_scenario_not_utf8(tmp_path, capsys):
    p = tmp_path / "bad.yaml"
    p.write_bytes(b"\xff\xfe" + "name: x\n".encode("utf-16-le"))
    _refused(capsys, str(p), "not UTF-8", "bad.yaml")


def test_scenario_not_text(tmp_path, capsys):
    p = tmp_path / "bin.yaml"
    p.write_bytes(bytes(range(256)))
    _refused(capsys, str(p), "bin.yaml")


def test_valid_scenario_with_bundled_trace(capsys):
    path = str(ROOT / "scenarios" / "maia200-llama70b-code.yaml")
    assert cli.main(["validate", path]) == 0
    out, err = capsys.readouterr()
    assert "valid." in out and "requests expected" in out
    assert err == ""


def test_valid_tmp_scenario_with_conv_trace(tmp_path, capsys):
    assert cli.main(["validate", _write(tmp_path, _traced("azure:conv"))]) == 0
    out, _ = capsys.readouterr()
    assert "valid." in out


def test_run_and_validate_share_the_check(tmp_path):
    """streams() refuses through workload.check, so the two cannot drift apart."""
    from maiasim.scenario import load_scenario
    from maiasim.workload import streams as streams_mod

    sc = load_scenario(_write(tmp_path, _traced("azure:nope")))
    with pytest.raises(ScenarioError) as a:
        workload.check(sc)
    with pytest.raises(ScenarioError) as b:
        streams_mod.streams(sc)
    assert str(a.value) == str(b.value)
