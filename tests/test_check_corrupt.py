"""``maiasim check`` fails closed: a corrupt, stale or foreign baseline is bad input (exit 2).

A baseline that cannot be trusted must never let a run pass (0) nor pose as a regression (1): each
case below exits 2 with one line on stderr that names the file and what is wrong, and no traceback.
"""

import copy
import math
import random
from collections.abc import Callable

import pandas as pd
import pytest
import yaml
from conftest import SMALL

from maiasim import cli
from maiasim.studies import check as chk
from maiasim.studies.baseline import read_baseline

BASE = {**copy.deepcopy(SMALL), "name": "check-small", "horizon_s": 30}


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """(scenario file, text of its valid baseline), simulated once for the module."""
    d = tmp_path_factory.mktemp("good")
    sc = d / "small.yaml"
    sc.write_text(yaml.safe_dump(BASE))
    return sc, chk.update(sc, d / "small.csv").read_text()


def _parts(text: str) -> tuple[list[str], list[str], list[list[str]]]:
    """(comment header lines, column names, rows) of a baseline written by write_baseline."""
    lines = text.splitlines()
    head = [x for x in lines if x.startswith("#")]
    body = [x.split(",") for x in lines[len(head):]]
    return head, body[0], body[1:]


def _join(head: list[str], cols: list[str], rows: list[list[str]]) -> str:
    return "\n".join([*head, ",".join(cols), *(",".join(r) for r in rows)]) + "\n"


def _set_cell(workload: str, col: str, value: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        head, cols, rows = _parts(text)
        for r in rows:
            if r[0] == workload:
                r[cols.index(col)] = value
        return _join(head, cols, rows)
    return edit


def _drop_col(col: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        head, cols, rows = _parts(text)
        i = cols.index(col)
        return _join(head, cols[:i] + cols[i + 1:], [r[:i] + r[i + 1:] for r in rows])
    return edit


def _rows(fn: Callable[[list[list[str]]], list[list[str]]]) -> Callable[[str], str]:
    def edit(text: str) -> str:
        head, cols, rows = _parts(text)
        return _join(head, cols, fn(rows))
    return edit


def _cut_mid_row(text: str) -> str:
    """Cut inside the last row's last-but-two number (as an interrupted write would)."""
    end = text.rstrip("\n")
    return end[:end.rfind(",", 0, end.rfind(",")) - 3]


def _cut_at_field(text: str) -> str:
    """Keep the first ten fields of the last row, newline-terminated: the row is short."""
    lines = text.splitlines()
    return "\n".join([*lines[:-1], ",".join(lines[-1].split(",")[:10])]) + "\n"


def _header(scenario: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        first, rest = text.split("\n", 1)
        return first.replace("'check-small'", repr(scenario)) + "\n" + rest
    return edit


def _renamed(rows: list[list[str]]) -> list[list[str]]:
    return [[("ghost" if i == 0 else v) for i, v in enumerate(r)] if r[0] == "chat" else r
            for r in rows]


#: id -> (edit of the valid baseline text: returns the corrupt text or bytes,
#: words the message must hold)
CORRUPT: dict[str, tuple[Callable[[str], str | bytes], tuple[str, ...]]] = {
    "empty": (lambda t: "", ("empty",)),
    "header-only": (lambda t: "\n".join(t.splitlines()[:2]) + "\n", ("no column names",)),
    "columns-no-rows": (lambda t: "\n".join(t.splitlines()[:3]) + "\n", ("no rows",)),
    "truncated-mid-row": (_cut_mid_row, ("truncated",)),
    "truncated-short-row": (_cut_at_field, ("truncated", "fields")),
    "no-workload-column": (_drop_col("workload"), ("workload",)),
    "no-ttft_p99_s-column": (_drop_col("ttft_p99_s"), ("lacks metric", "ttft_p99_s", "regenerate")),
    "no-slo_met-column": (_drop_col("slo_met"), ("lacks metric", "slo_met")),
    "duplicate-column": (lambda t: t.replace(",ttft_p90_s,", ",ttft_p99_s,", 1),
                         ("ttft_p99_s", "twice")),
    "abc-number": (_set_cell("chat", "ttft_p99_s", "abc"), ("ttft_p99_s", "abc")),
    "abc-count": (_set_cell("all", "rejected", "abc"), ("rejected", "abc")),
    "abc-slo_met": (_set_cell("chat", "slo_met", "abc"), ("slo_met", "abc")),
    "inf": (_set_cell("chat", "ttft_p99_s", "inf"), ("ttft_p99_s", "inf")),
    "-inf": (_set_cell("all", "output_tok_s", "-inf"), ("output_tok_s", "inf")),
    "nan-where-finite": (_set_cell("chat", "ttft_p99_s", "nan"), ("ttft_p99_s", "nan")),
    "empty-where-finite": (_set_cell("all", "output_tokens_per_usd", ""),
                           ("output_tokens_per_usd", "nan")),
    "binary": (lambda t: random.Random(10).randbytes(600), ("binary",)),
    "not-utf8": (lambda t: t.replace("chat", "ch\xe2t").encode("latin-1"), ("utf-8",)),
    "nul-bytes": (lambda t: t.encode() + b"\x00" * 64, ("binary",)),
    "no-header": (lambda t: "\n".join(t.splitlines()[2:]) + "\n", ("header",)),
    "bad-set-line": (lambda t: t.replace("# set: {}", "# set: {oops"), ("set",)),
    "missing-workload-row": (_rows(lambda rs: [r for r in rs if r[0] != "chat"]),
                             ("chat", "missing")),
    "missing-all-row": (_rows(lambda rs: [r for r in rs if r[0] != "all"]), ("all", "missing")),
    "extra-workload-row": (_rows(lambda rs: [*rs, ["ghost", *rs[0][1:]]]), ("ghost",)),
    "renamed-workload-row": (_rows(_renamed), ("ghost", "chat")),
    "duplicate-workload-row": (_rows(lambda rs: [rs[0], *rs]), ("chat", "twice")),
    "other-scenario": (_header("maia200-llama70b-conv"),
                       ("maia200-llama70b-conv", "check-small", "--update")),
}

#: the ways to run a check (``python -m maiasim check`` and ``make baselines`` go through cli.main)
ENTRIES = {"cli": lambda argv: cli.main(["check", *argv])}


def _run(entry: str, argv: list[str], capsys) -> tuple[int, str]:
    """Exit code and stderr of one call; an escaping exception is a traceback, hence a failure."""
    try:
        rc = ENTRIES[entry](argv)
    except BaseException as e:  # noqa: BLE001 - SystemExit too: main must return, not raise
        pytest.fail(f"traceback instead of exit 2: {type(e).__name__}: {e}")
    return rc, capsys.readouterr().err


def _assert_one_line_error(rc: int, err: str, path, words) -> None:
    assert rc == 2, f"exit {rc}, expected 2 (stderr: {err!r})"
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {lines}"
    assert str(path) in lines[0], f"the message does not name {path}: {lines[0]}"
    for w in words:
        assert w.lower() in lines[0].lower(), f"{w!r} not in: {lines[0]}"


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("case", CORRUPT)
def test_corrupt_baseline_exits_2(good, tmp_path, capsys, case, entry):
    scenario, text = good
    edit, words = CORRUPT[case]
    corrupt = edit(text)
    b = tmp_path / "baseline.csv"
    (b.write_bytes if isinstance(corrupt, bytes) else b.write_text)(corrupt)
    rc, err = _run(entry, [str(scenario), "--baseline", str(b)], capsys)
    _assert_one_line_error(rc, err, b, words)


@pytest.mark.parametrize("entry", ENTRIES)
def test_directory_as_baseline_exits_2(good, tmp_path, capsys, entry):
    rc, err = _run(entry, [str(good[0]), "--baseline", str(tmp_path)], capsys)
    _assert_one_line_error(rc, err, tmp_path, ("directory",))


@pytest.mark.parametrize("entry", ENTRIES)
def test_update_onto_a_directory_exits_2(good, tmp_path, capsys, entry):
    rc, err = _run(entry, [str(good[0]), "--baseline", str(tmp_path), "--update"], capsys)
    _assert_one_line_error(rc, err, tmp_path, ("directory",))


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("where", ["directory", "under-a-file"])
def test_junit_unwritable_exits_2(good, tmp_path, capsys, entry, where):
    scenario, text = good
    b = tmp_path / "baseline.csv"
    b.write_text(text)
    target = tmp_path if where == "directory" else b / "report.xml"  # a regular file as the parent
    rc, err = _run(entry, [str(scenario), "--baseline", str(b), "--junit", str(target)], capsys)
    _assert_one_line_error(rc, err, target, ("--junit",))


def test_check_all_names_the_corrupt_baseline(good, tmp_path, capsys):
    sdir, bdir = tmp_path / "scenarios", tmp_path / "baselines"
    sdir.mkdir()
    bdir.mkdir()
    (sdir / "small.yaml").write_text(good[0].read_text())
    (bdir / "small.csv").write_text(_set_cell("chat", "ttft_p99_s", "inf")(good[1]))
    rc, err = _run("cli", ["--check-all", str(sdir), str(bdir)], capsys)
    _assert_one_line_error(rc, err, bdir / "small.csv", ("inf",))


@pytest.mark.parametrize("variant", ["as-written", "crlf", "blank-line-at-end"])
def test_valid_baseline_still_passes(good, tmp_path, capsys, variant):
    b = tmp_path / "baseline.csv"
    text = {"as-written": good[1], "crlf": good[1].replace("\n", "\r\n"),
            "blank-line-at-end": good[1] + "\n"}[variant]
    b.write_bytes(text.encode())
    for entry in ENTRIES:
        rc, err = _run(entry, [str(good[0]), "--baseline", str(b)], capsys)
        assert rc == 0 and err == ""


def test_nan_where_the_metric_is_undefined_passes(tmp_path, capsys):
    """One output token per request: no time per output token, so tpot is NaN then and now;
    no SLO."""
    data = copy.deepcopy(BASE)
    data["workload"][0]["output_tokens"] = {"type": "fixed", "value": 1}
    data["workload"][0].pop("slo")
    sc = tmp_path / "one-token.yaml"
    sc.write_text(yaml.safe_dump(data))
    b = chk.update(sc, tmp_path / "one-token.csv")
    df, _ = read_baseline(b)
    assert df.tpot_p99_s.isna().all() and df.slo_met.isna().all()
    rc, _ = _run("cli", [str(sc), "--baseline", str(b)], capsys)
    assert rc == 0
    # the same NaN baseline against a run where tpot is defined is not a pass
    data["workload"][0]["output_tokens"] = BASE["workload"][0]["output_tokens"]
    sc.write_text(yaml.safe_dump(data))
    rc, err = _run("cli", [str(sc), "--baseline", str(b)], capsys)
    _assert_one_line_error(rc, err, b, ("tpot_p", "nan", "regenerate"))


def test_header_records_the_scenario(good):
    df, meta = read_baseline(good[0].with_suffix(".csv"))
    assert meta["scenario"] == "check-small" and meta["set"] == {}
    assert list(df.workload) == ["chat", "all"]


def test_tolerance_on_a_metric_the_baseline_lacks_exits_2(good, tmp_path, capsys):
    b = tmp_path / "baseline.csv"
    # not a default metric: the file is fine as it is
    b.write_text(_drop_col("ttft_p90_s")(good[1]))
    rc, _ = _run("cli", [str(good[0]), "--baseline", str(b)], capsys)
    assert rc == 0
    rc, err = _run("cli", [str(good[0]), "--baseline", str(b), "-t", "ttft_p90_s=5%"], capsys)
    _assert_one_line_error(rc, err, b, ("lacks metric", "ttft_p90_s"))
    rc, _ = _run("cli", [str(good[0]), "--baseline", str(b), "-t", "ttft_p99_s=off"], capsys)
    assert rc == 0


def test_compare_fails_a_nan_baseline_against_a_finite_value():
    base = pd.DataFrame({"workload": ["a", "b"], "ttft_p99_s": [math.nan, math.nan],
                         "slo_met": [None, None]})
    cur = pd.DataFrame({"workload": ["a", "b"], "ttft_p99_s": [0.5, math.nan],
                        "slo_met": [True, None]})
    v = chk.compare(base, cur).set_index(["workload", "metric"]).verdict
    assert v["a", "ttft_p99_s"] in chk.FAILING and v["a", "slo_met"] in chk.FAILING
    assert v["b", "ttft_p99_s"] == "ok" and ("b", "slo_met") not in v.index
