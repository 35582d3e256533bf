"""Scenario loading: every shipped scenario validates and runs; bad input gets one clear message."""

import subprocess
import sys
from pathlib import Path
from types import MappingProxyType

import pytest
from conftest import small_scenario

import maiasim as ms

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))


def test_required_scenarios_exist():
    names = {p.stem for p in SCENARIOS}
    assert {"maia200-llama70b-conv", "h100-llama70b-conv", "gb200-llama70b-conv",
            "maia200-llama70b-code", "maia200-llama8b-burst"} <= names


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_every_scenario_runs(path):
    sc = ms.load_scenario(path)
    short = sc.with_overrides({"horizon_s": min(sc.horizon_s, 60.0)})
    res = ms.simulate(short)
    s = res.summary.iloc[-1]
    assert s.requests > 0 and s.completed > 0
    assert s.output_tok_s > 0
    assert set(res.summary.workload) == {w.name for w in sc.workload} | {"all"}


def test_with_overrides_returns_changed_copy(small):
    b = small.with_overrides({"deployment.replicas": 8, "workload.0.arrival.rate_per_s": 9})
    assert b.replicas == 8 and b.workload[0].arrival.rate_per_s == 9
    assert small.replicas == 2 and small.workload[0].arrival.rate_per_s == 4
    with pytest.raises(ms.ScenarioError, match="workload.5"):
        small.with_overrides({"workload.5.name": "x"})


def test_with_overrides_takes_any_mapping_and_none(small):
    """The one override path for sweeps and plans: any mapping; none at all gives the scenario."""
    assert small.with_overrides(None) is small and small.with_overrides({}) is small
    b = small.with_overrides(MappingProxyType({"deployment.replicas": 3}))
    assert b.replicas == 3 and b.chips == 12


def test_overrides_keep_fleet_size_consistent():
    sc = ms.load_scenario(ROOT / "scenarios" / "maia200-llama70b-conv.yaml")
    assert (sc.chips, sc.replicas) == (4, 1)
    assert sc.with_overrides({"deployment.replicas": 32}).chips == 128
    tp2 = sc.with_overrides({"deployment.tensor_parallel": 2})
    assert (tp2.chips, tp2.replicas) == (4, 2)
    assert sc.with_overrides({"hardware.chips": 64}).replicas == 16
    with pytest.raises(ms.ScenarioError, match="not a multiple"):
        sc.with_overrides({"deployment.tensor_parallel": 3})


def test_readme_python_snippet_runs():
    import re

    text = (ROOT / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    code = code.replace('"deployment.replicas": 2}', '"deployment.replicas": 2, "horizon_s": 120}')
    import os

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        exec(compile(code, "README.md", "exec"), {})
    finally:
        os.chdir(cwd)


def test_scenario_is_immutable(small):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="frozen"):
        small.seed = 3


def _err(data) -> str:
    with pytest.raises(ms.ScenarioError) as e:
        ms.from_dict(data)
    return str(e.value)


def _base():
    return small_scenario().model_dump(mode="json")


def test_unknown_chip_names_path_value_and_choices():
    d = _base()
    d["hardware"]["chip"] = "maia300"
    msg = _err(d)
    assert "hardware.chip" in msg and "maia300" in msg and "maia200" in msg and "h100" in msg


def test_bad_arrival_type_lists_allowed():
    d = _base()
    d["workload"][0]["arrival"] = {"type": "poison", "rate_per_s": 3}
    msg = _err(d)
    assert "workload[0].arrival" in msg and "poison" in msg
    assert "poisson" in msg and "closed_loop" in msg


def test_negative_rate_and_unknown_field():
    d = _base()
    d["workload"][0]["arrival"]["rate_per_s"] = -1
    assert "workload[0].arrival.rate_per_s" in _err(d) and "-1" in _err(d)
    d = _base()
    d["deployment"]["tensor_paralel"] = 4
    msg = _err(d)
    assert "deployment.tensor_paralel" in msg and "unknown field" in msg


def test_bad_precision_and_inconsistent_sizes():
    d = _base()
    d["precision"]["weights"] = "int3"
    msg = _err(d)
    assert "precision.weights" in msg and "fp4" in msg and "bf16" in msg
    d = _base()
    d["hardware"]["chips"] = 10
    assert "not a multiple" in _err(d) or "hardware.chips" in _err(d)


def test_missing_lengths_for_poisson():
    d = _base()
    del d["workload"][0]["prompt_tokens"]
    assert "prompt_tokens is required" in _err(d)


def test_model_that_does_not_fit_says_by_how_much():
    sc = small_scenario(**{"model": "llama-3.1-405b", "deployment.tensor_parallel": 1,
                           "precision.weights": "bf16"})
    with pytest.raises(ms.DoesNotFit, match=r"short by [0-9.]+ GB.*tensor_parallel >= \d+"):
        ms.simulate(sc)


def test_unsupported_precision_is_clear():
    sc = small_scenario(**{"hardware.chip": "h100", "precision.weights": "fp4",
                           "precision.activations": "fp4"})
    with pytest.raises(ms.ScenarioError, match="does not support.*supported: bf16, fp8"):
        ms.simulate(sc)
    r = _cli("validate", "scenarios/maia200-llama70b-conv.yaml", "--set", "hardware.chip=a100")
    assert r.returncode == 2 and "a100 does not support" in r.stderr and "Traceback" not in r.stderr


def test_inline_chip_and_model_specs():
    from maiasim import catalog

    chip = catalog.chip("maia200").model_dump()
    chip["hbm_bandwidth_bytes_per_s"] = 14e12
    model = catalog.model("llama-3.1-8b").model_dump()
    # an inline chip has no catalog calibration: give it maia200's, so that the comparison
    # isolates bandwidth
    cal = catalog.calibration("maia200").model_dump(exclude={"chip"})
    sc = small_scenario(**{"hardware.chip": chip, "hardware.calibration": cal, "model": model,
                           "deployment.tensor_parallel": 1})
    fast = ms.simulate(sc).summary.iloc[-1]
    base_sc = small_scenario(**{"model": model, "deployment.tensor_parallel": 1})
    base = ms.simulate(base_sc).summary.iloc[-1]
    assert fast.tpot_p50_s < base.tpot_p50_s
    over = small_scenario(**{"hardware.chip_overrides": {"hbm_bandwidth_bytes_per_s": 14e12},
                             "model": model, "deployment.tensor_parallel": 1})
    assert ms.simulate(over).summary.iloc[-1].tpot_p50_s == pytest.approx(fast.tpot_p50_s)


def test_trace_lengths_and_bundled_traces():
    sc = small_scenario(**{"workload.0.arrival": {"type": "trace", "path": "azure:conv"},
                           "workload.0.prompt_tokens": None, "workload.0.output_tokens": None,
                           "horizon_s": 30})
    req = ms.simulate(sc).requests
    import pandas as pd

    raw = pd.read_csv(ROOT / "maiasim" / "data" / "AzureLLMInferenceTrace_conv.csv", nrows=len(req))
    assert list(req.prompt_tokens) == list(raw.ContextTokens.clip(lower=1))
    assert list(req.output_tokens) == list(raw.GeneratedTokens.clip(lower=1))


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "maiasim", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)


def test_cli_validate_and_bad_input_exit_2(tmp_path):
    ok = _cli("validate", "scenarios/maia200-llama70b-conv.yaml")
    assert ok.returncode == 0 and "valid" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nhardware: {chip: maia200, chips: 4}\nworkload:\n  - name: a\n"
                   "    arrival: {type: poisson, rate_per_s: fast}\n"
                   "    prompt_tokens: {type: fixed, value: 10}\n"
                   "    output_tokens: {type: fixed, value: 10}\n")
    r = _cli("run", str(bad))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "workload[0].arrival.rate_per_s" in r.stderr and "fast" in r.stderr
    r = _cli("run", "scenarios/nope.yaml")
    assert r.returncode == 2 and "not found" in r.stderr and "Traceback" not in r.stderr
    r = _cli("run", "scenarios/maia200-llama70b-conv.yaml", "--set", "model=llama-3.1-405b",
             "--set", "deployment.tensor_parallel=1", "--set", "precision.weights=bf16",
             "--set", "hardware.chips=4", "--set", "deployment.replicas=4")
    assert r.returncode == 2 and "short by" in r.stderr and "Traceback" not in r.stderr


def test_cli_run_writes_frames_and_plots(tmp_path):
    r = _cli("run", "scenarios/maia200-llama8b-burst.yaml", "-o", str(tmp_path),
             "--set", "workload.0.arrival.count=200", "-q")
    assert r.returncode == 0, r.stderr
    assert "output_tok_s" in r.stdout
    for f in ("summary.csv", "requests.csv", "replicas.csv", "timeline.csv", "latency_cdf.png",
              "timeline.png"):
        assert (tmp_path / f).stat().st_size > 0


def test_cli_catalog():
    r = _cli("catalog", "chips")
    assert r.returncode == 0 and "maia200" in r.stdout and "trainium3" in r.stdout
    r = _cli("catalog", "models")
    assert r.returncode == 0 and "deepseek-v3" in r.stdout
