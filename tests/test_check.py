"""Regression check: direction-aware tolerances, exit codes, baselines, JUnit XML."""

import copy
import math
import xml.etree.ElementTree as ET

import pandas as pd
import pytest
import yaml
from conftest import SMALL

import maiasim as ms
from maiasim import cli
from maiasim.results.columns import COLUMNS
from maiasim.studies import check as chk
from maiasim.studies.baseline import BASELINE_HEADER, read_baseline, write_baseline
from maiasim.studies.tolerances import DEFAULT_TOLERANCES, Tolerance, direction

BASE = {**copy.deepcopy(SMALL), "name": "check-small", "horizon_s": 30}


@pytest.fixture
def scenario_file(tmp_path):
    p = tmp_path / "small.yaml"
    p.write_text(yaml.safe_dump(BASE))
    return p


@pytest.fixture
def baseline(scenario_file, tmp_path):
    b = tmp_path / "baselines" / "small.csv"
    assert cli.main(["check", str(scenario_file), "--baseline", str(b), "--update"]) == 0
    return b


def _edit(path, **scale):
    """Multiply baseline columns (every workload row) to fake a change between baseline and now."""
    text = path.read_text().splitlines(keepends=True)
    head = [line for line in text if line.startswith("#")]
    df = pd.read_csv(path, comment=None, skiprows=len(head))
    for col, f in scale.items():
        df[col] = df[col] * f
    path.write_text("".join(head) + df.to_csv(index=False))


def test_unchanged_run_passes(scenario_file, baseline, capsys):
    assert cli.main(["check", str(scenario_file), "--baseline", str(baseline)]) == 0
    assert "PASS" in capsys.readouterr().out
    rep = chk.check(scenario_file, baseline)
    assert rep.passed and (rep.rows.verdict == "ok").all()
    # every default metric for both the workload row and the "all" row
    assert set(rep.rows.workload) == {"chat", "all"}
    assert set(rep.rows.metric) == set(DEFAULT_TOLERANCES)


def test_latency_higher_than_baseline_beyond_tolerance_fails(scenario_file, baseline, capsys):
    _edit(baseline, ttft_p99_s=1 / 1.25)  # now 25% above the baseline; tolerance 10%
    assert cli.main(["check", str(scenario_file), "--baseline", str(baseline)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "REGRESSED" in out and "ttft_p99_s" in out
    for word in ("metric", "baseline", "current", "change", "tolerance", "direction", "verdict"):
        assert word in out
    rep = chk.check(scenario_file, baseline)
    bad = rep.failures
    assert set(bad.metric) == {"ttft_p99_s"} and set(bad.workload) == {"chat", "all"}
    assert bad.change_pct.iloc[0] == pytest.approx(25.0)
    # a looser tolerance lets it pass
    assert chk.check(scenario_file, baseline, tolerance=["ttft_p99_s=30%"]).passed
    assert cli.main(["check", str(scenario_file), "--baseline", str(baseline),
                     "-t", "ttft_p99_s=off"]) == 0


def test_latency_within_tolerance_passes(scenario_file, baseline):
    _edit(baseline, ttft_p99_s=1 / 1.08, tpot_p99_s=1 / 1.09)
    rep = chk.check(scenario_file, baseline)
    assert rep.passed
    assert (rep.rows[rep.rows.metric == "ttft_p99_s"].change_pct.round(6) == 8.0).all()


def test_improvements_pass_and_are_shown(scenario_file, baseline, capsys):
    _edit(baseline, ttft_p99_s=2.0, output_tok_s=0.5, usd_per_m_output_tok=1.5)
    assert cli.main(["check", str(scenario_file), "--baseline", str(baseline)]) == 0
    out = capsys.readouterr().out
    assert "improved" in out and "ttft_p99_s" in out and "output_tok_s" in out
    rep = chk.check(scenario_file, baseline)
    assert set(rep.rows[rep.rows.verdict == "improved"].metric) == {"ttft_p99_s",
                                                                    "output_tok_s",
                                                                    "usd_per_m_output_tok"}


def test_lower_throughput_and_tokens_per_usd_fail(scenario_file, baseline):
    # now ~9% below the baseline; tolerance 5%
    _edit(baseline, output_tok_s=1.10, output_tokens_per_usd=1.10)
    rep = chk.check(scenario_file, baseline)
    assert set(rep.failures.metric) == {"output_tok_s", "output_tokens_per_usd"}
    assert set(rep.failures.direction) == {"lower is worse"}


def test_absolute_tolerances(scenario_file, baseline):
    _edit(baseline, slo_attainment=1.02)  # 0.02 absolute above now, default tolerance 0.01
    rep = chk.check(scenario_file, baseline)
    assert set(rep.failures.metric) == {"slo_attainment"}
    assert chk.check(scenario_file, baseline, tolerance={"slo_attainment": 0.05}).passed


def test_compare_counts_slo_met_and_rejections():
    base = pd.DataFrame({"workload": ["a", "b"], "slo_met": [True, False], "rejected": [0, 3],
                         "ttft_p99_s": [1.0, 0.0]})
    cur = pd.DataFrame({"workload": ["a", "b"], "slo_met": [False, True], "rejected": [1, 0],
                        "ttft_p99_s": [1.0, 0.5]})
    rows = chk.compare(base, cur).set_index(["workload", "metric"]).verdict
    assert rows["a", "slo_met"] == "REGRESSED" and rows["b", "slo_met"] == "improved"
    assert rows["a", "rejected"] == "REGRESSED" and rows["b", "rejected"] == "improved"
    assert rows["b", "ttft_p99_s"] == "REGRESSED"  # from 0: any rise is infinite percent
    # a workload that vanished fails; a new one passes
    gone = chk.compare(base, cur[cur.workload == "a"])
    assert (gone[gone.workload == "b"].verdict == "MISSING").all()
    new = chk.compare(base[base.workload == "a"], cur)
    assert set(new[new.workload == "b"].verdict) == {"new"}


def test_nan_metrics_compare_equal():
    base = pd.DataFrame({"workload": ["all"], "output_tokens_per_usd": [math.nan]})
    assert chk.compare(base, base.copy()).verdict.tolist() == ["ok"]


def test_junit_has_one_testcase_per_metric_per_workload(scenario_file, baseline, tmp_path):
    _edit(baseline, e2e_p99_s=0.5)
    xml = tmp_path / "report.xml"
    assert cli.main(["check", str(scenario_file), "--baseline", str(baseline),
                     "--junit", str(xml)]) == 1
    root = ET.parse(xml).getroot()
    cases = root.findall(".//testcase")
    assert len(cases) == 2 * len(DEFAULT_TOLERANCES)
    assert {c.get("classname") for c in cases} == {"maiasim.studies.check.check-small.chat",
                                                   "maiasim.studies.check.check-small.all"}
    failed = [c for c in cases if c.find("failure") is not None]
    assert {c.get("name") for c in failed} == {"e2e_p99_s"} and len(failed) == 2
    assert root.get("failures") == "2" and root.find("testsuite").get("tests") == str(len(cases))


#: the direction of every summary column (and the names outside the summary the check accepts),
#: pinned: the check reads them from the column registry, which must not move them
DIRECTIONS = {
    "higher is worse": ["rejected", "dropped", "in_flight", "duration_s", "cost_usd",
                        "usd_per_m_output_tok", "energy_j", "preemptions", "unknown_time_s",
                        "retried", "dropped_retries_exhausted", "no_replica_available",
                        "goodput_lost_req_s",
                        "usd_per_chip_hour", "energy_rack_j", "energy_wall_j",
                        *[f"{m}_{p}_s" for m in ("ttft", "tpot", "e2e")
                          for p in ("p50", "p90", "p99", "mean")]],
    "lower is worse": ["completed", "output_tok_s", "prompt_tok_s", "total_tok_s",
                       "completed_req_s", "goodput_req_s", "slo_attainment",
                       "output_tokens_per_usd", "output_tokens_per_joule", "availability",
                       "prefix_hit_rate", "output_tokens_per_joule_rack",
                       "output_tokens_per_joule_wall", "output_tok_s_per_rack_kw"],
    "must stay true": ["slo_met"],
    None: ["workload", "requests", "bogus", "cost_basis", "racks", "rack_kw"],
}


def test_every_summary_column_has_its_direction():
    pinned = {m for names in DIRECTIONS.values() for m in names}
    assert {c.name for c in COLUMNS if c.frame == "summary"} <= pinned
    for d, names in DIRECTIONS.items():
        assert {m: direction(m) for m in names} == dict.fromkeys(names, d)


@pytest.mark.parametrize("text, value, relative", [("10%", 0.10, True), ("0.05", 0.05, False),
                                                   ("0", 0.0, False), (" 2.5% ", 0.025, True)])
def test_tolerance_syntax(text, value, relative):
    t = Tolerance.parse(text)
    assert t.value == pytest.approx(value) and t.relative == relative


@pytest.mark.parametrize("bad", ["ttft_p99_s", "ttft_p99_s=ten", "ttft_p99_s=-1%", "bogus=5%",
                                 "slo_met=5%", "workload=1"])
def test_bad_tolerance_exits_2(scenario_file, baseline, bad):
    assert cli.main(["check", str(scenario_file), "--baseline", str(baseline),
                     "--tolerance", bad]) == 2


def test_bad_input_exits_2(scenario_file, tmp_path):
    assert cli.main(["check", str(scenario_file), "--baseline", str(tmp_path / "missing.csv")]) == 2
    assert cli.main(["check", str(tmp_path / "missing.yaml"),
                     "--baseline", str(tmp_path / "x.csv")]) == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**BASE, "deployment": {"tensor_parallel": 0, "replicas": 1}}))
    assert cli.main(["check", str(bad), "--baseline", str(tmp_path / "x.csv"), "--update"]) == 2
    junk = tmp_path / "junk.csv"
    junk.write_text("a,b\n1,2\n")
    assert cli.main(["check", str(scenario_file), "--baseline", str(junk)]) == 2
    assert cli.main(["check"]) == 2


def test_set_overrides_and_update(scenario_file, baseline, capsys):
    # fewer replicas than the baseline: the same traffic on 1 replica is slower
    assert cli.main(["check", str(scenario_file), "--baseline", str(baseline),
                     "--set", "deployment.replicas=1",
                     "--set", "workload.0.arrival.rate_per_s=12"]) == 1
    assert "written with --set" in capsys.readouterr().err
    assert cli.main(["check", str(scenario_file), "--baseline", str(baseline), "--update", "--set",
                     "deployment.replicas=1"]) == 0
    head = baseline.read_text().splitlines()[:2]
    assert head[0].startswith(BASELINE_HEADER) and '"deployment.replicas": 1' in head[1]
    assert cli.main(["check", str(scenario_file), "--baseline", str(baseline),
                     "--set", "deployment.replicas=1"]) == 0


def test_baseline_round_trip_is_exact(scenario_file, tmp_path):
    res = ms.simulate(ms.load_scenario(scenario_file))
    p = write_baseline(res.summary, tmp_path / "b.csv", "x")
    df, meta = read_baseline(p)
    assert meta == {"scenario": "x", "set": {}}
    for col in ("ttft_p99_s", "output_tokens_per_usd", "output_tok_s"):
        assert df[col].tolist() == res.summary[col].tolist()


def test_update_all_and_check_all(tmp_path):
    sdir, bdir = tmp_path / "scenarios", tmp_path / "baselines"
    sdir.mkdir()
    for name, rate in (("one", 2), ("two", 3)):
        data = {**BASE, "name": name}
        data["workload"] = [{**BASE["workload"][0],
                             "arrival": {"type": "poisson", "rate_per_s": rate}}]
        (sdir / f"{name}.yaml").write_text(yaml.safe_dump(data))
    assert cli.main(["check", "--update-all", str(sdir), str(bdir)]) == 0
    assert sorted(p.name for p in bdir.iterdir()) == ["one.csv", "two.csv"]
    assert cli.main(["check", "--check-all", str(sdir), str(bdir), "--junit",
                     str(tmp_path / "all.xml")]) == 0
    assert len(ET.parse(tmp_path / "all.xml").getroot().findall("testsuite")) == 2
    _edit(bdir / "two.csv", tpot_p99_s=0.5)
    assert cli.main(["check", "--check-all", str(sdir), str(bdir)]) == 1
    with pytest.raises(SystemExit) as e:  # argparse: two directories needed
        cli.main(["check", "--update-all", str(sdir)])
    assert e.value.code == 2
    assert cli.main(["check", "--update-all", str(tmp_path / "nowhere"), str(bdir)]) == 2
