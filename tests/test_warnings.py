"""Result.warnings: arrivals that end long before the horizon are said, once, in the summary."""

import pandas as pd
from conftest import SMALL, small_scenario

import maiasim as ms
from maiasim import cli
from maiasim.results.warnings import EARLY_END_SHARE, early_end_warnings


def _trace(tmp_path, n=20, gap_s=0.5):
    """A short trace: n requests, one every gap_s seconds."""
    t0 = pd.Timestamp("2023-11-16 18:00:00")
    p = tmp_path / "short.csv"
    pd.DataFrame({"TIMESTAMP": [t0 + pd.Timedelta(seconds=i * gap_s) for i in range(n)],
                  "ContextTokens": 500, "GeneratedTokens": 50}).to_csv(p, index=False)
    return p


def _short_trace_scenario(tmp_path, horizon_s=60.0) -> ms.Scenario:
    return small_scenario(**{"horizon_s": horizon_s, "workload": [{
        "name": "replay", "arrival": {"type": "trace", "path": str(_trace(tmp_path))},
        "slo": {"ttft_p99_s": 2.0}}]})


def test_trace_ending_early_warns_once(tmp_path):
    res = ms.simulate(_short_trace_scenario(tmp_path))
    assert res.requests.arrival_s.max() < EARLY_END_SHARE * 60
    (w,) = res.warnings
    assert w.startswith("workload 'replay': arrivals ended at 10 s, 16% of the horizon (60 s)")
    assert "its trace ran out" in w and "\n" not in w


def test_normal_poisson_run_has_no_warning(small):
    assert ms.simulate(small).warnings == []


def test_burst_and_closed_loop_are_not_checked():
    sc = small_scenario(**{"horizon_s": 3600, "workload": [
        {**SMALL["workload"][0], "name": "burst", "arrival": {"type": "burst", "count": 10}},
        {**SMALL["workload"][0], "name": "loop",
         "arrival": {"type": "closed_loop", "concurrency": 2, "count": 10}}]})
    res = ms.simulate(sc)
    assert res.requests.arrival_s.max() < 0.1 * sc.horizon_s
    assert res.warnings == []


def test_rule_is_per_open_loop_workload_at_the_threshold(small):
    two = small.with_overrides({"horizon_s": 100, "workload": [
        SMALL["workload"][0], {**SMALL["workload"][0], "name": "quiet"}]})
    req = pd.DataFrame({"workload": ["chat", "chat", "quiet"],
                        "arrival_s": [1.0, EARLY_END_SHARE * 100, EARLY_END_SHARE * 100 - 1]})
    (w,) = early_end_warnings(two, req)
    assert w.startswith("workload 'quiet': arrivals ended at 79 s, 79% of the horizon (100 s): "
                        "no later arrival was drawn")
    assert early_end_warnings(two, req[req.workload == "chat"]) == [
        "workload 'quiet': no request arrived within the horizon (100 s)"]


def test_run_prints_the_warning_to_stderr_after_the_summary(tmp_path, capsys):
    p = tmp_path / "short.yaml"
    p.write_text(_short_trace_scenario(tmp_path).to_yaml(), encoding="utf-8")
    assert cli.main(["run", str(p), "-q"]) == 0
    out, err = capsys.readouterr()
    assert "replay" in out and "warning" not in out
    (line,) = [x for x in err.splitlines() if x.startswith("maiasim: warning: ")]
    assert line.startswith("maiasim: warning: workload 'replay': arrivals ended at 10 s")


def test_run_without_warnings_prints_none(tmp_path, capsys):
    p = tmp_path / "small.yaml"
    p.write_text(small_scenario().to_yaml(), encoding="utf-8")
    assert cli.main(["run", str(p), "-q"]) == 0
    assert "warning" not in capsys.readouterr().err
