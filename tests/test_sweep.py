"""Sweeps: grid expansion, seeds, error rows, executors agree, confidence intervals, CLI."""

import copy
import math

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import SMALL

import maiasim as ms
from maiasim import cli
from maiasim.cli.options import parse_grid
from maiasim.errors import UsageError
from maiasim.studies.stats import confidence, t_cdf, t_ppf
from maiasim.studies.sweep import replication_seed, sweep

#: BF16 weights: Llama-3.1-70B fits one Maia 200 but not one H100 (the error rows below)
BASE = {**copy.deepcopy(SMALL), "name": "sweep-small", "horizon_s": 30,
        "precision": {"weights": "bf16", "activations": "bf16"}}

GRID = {"deployment.tensor_parallel": [1, 4], "hardware.chip": ["maia200", "h100"]}


@pytest.fixture(scope="module")
def sc():
    return ms.from_dict(BASE)


@pytest.fixture(scope="module")
def serial(sc):
    return sweep(sc, GRID, replications=2, executor="serial", progress=False)


def test_one_row_per_point_and_replication(serial, sc):
    df = serial
    assert len(df) == 2 * 2 * 2
    assert list(df.columns[:7]) == ["deployment.tensor_parallel", "hardware.chip", "replication",
                                    "seed", "chips", "replicas", "error"]
    for col in ("output_tok_s", "ttft_p99_s", "tpot_p99_s", "slo_attainment",
                "output_tokens_per_usd", "chat.slo_met"):
        assert col in df.columns
    assert df.attrs["grid"] == list(GRID)
    # first key varies slowest, then the second, then the replication
    assert df["deployment.tensor_parallel"].tolist() == [1, 1, 1, 1, 4, 4, 4, 4]
    assert df["hardware.chip"].tolist() == ["maia200", "maia200", "h100", "h100"] * 2
    assert df.replication.tolist() == [0, 1] * 4


def test_replication_seeds_are_derived_and_deterministic(serial, sc):
    assert (serial.seed[serial.replication == 0] == sc.seed).all()
    r1 = serial.seed[serial.replication == 1].unique()
    assert len(r1) == 1 and r1[0] != sc.seed and r1[0] == replication_seed(sc.seed, 1)
    seeds = [replication_seed(7, r) for r in range(50)]
    assert len(set(seeds)) == 50 and seeds == [replication_seed(7, r) for r in range(50)]


def test_replication_zero_reproduces_simulate(serial, sc):
    row = serial[(serial["deployment.tensor_parallel"] == 4) & (serial["hardware.chip"] == "h100")
                 & (serial.replication == 0)].iloc[0]
    res = ms.simulate(sc.with_overrides({"deployment.tensor_parallel": 4, "hardware.chip": "h100"}))
    s = res.summary.loc[res.summary.workload == "all"].iloc[0]
    for col in ("requests", "output_tok_s", "ttft_p99_s", "tpot_p99_s", "output_tokens_per_usd"):
        assert row[col] == pytest.approx(s[col], rel=1e-12)
    # a different seed draws different traffic
    other = serial[(serial["deployment.tensor_parallel"] == 4) & (serial["hardware.chip"] == "h100")
                   & (serial.replication == 1)].iloc[0]
    assert other.ttft_p99_s != row.ttft_p99_s


def test_a_point_that_does_not_fit_is_an_error_row(serial):
    bad = serial[(serial["deployment.tensor_parallel"] == 1) & (serial["hardware.chip"] == "h100")]
    assert len(bad) == 2
    assert bad.error.str.startswith("DoesNotFit:").all()
    assert bad.ttft_p99_s.isna().all()
    good = serial.drop(bad.index)
    assert good.error.isna().all() and good.ttft_p99_s.notna().all()


def test_fixed_chips_rederive_replicas_and_indivisible_is_an_error_row():
    sc = ms.from_dict({**BASE, "hardware": {"chip": "maia200", "chips": 8},
                       "deployment": {"tensor_parallel": 4}})
    df = sweep(sc, {"deployment.tensor_parallel": [2, 3, 8]}, executor="serial", progress=False)
    assert df.replicas.tolist()[0] == 4 and df.replicas.tolist()[2] == 1
    assert (df.chips.iloc[[0, 2]] == 8).all()
    assert df.error.iloc[1].startswith("ScenarioError:") and "not a multiple" in df.error.iloc[1]
    assert df.error.iloc[[0, 2]].isna().all()


def test_swept_replicas_resize_a_chips_scenario():
    sc = ms.from_dict({**BASE, "hardware": {"chip": "maia200", "chips": 8},
                       "deployment": {"tensor_parallel": 4}})
    df = sweep(sc, {"deployment.replicas": [1, 3]}, executor="serial", progress=False)
    assert df.chips.tolist() == [4, 12] and df.error.isna().all()


def test_processes_executor_gives_the_same_frame(serial, sc):
    df = sweep(sc, GRID, replications=2, executor="processes", max_workers=2, progress=False)
    pd.testing.assert_frame_equal(df, serial)


def test_dask_executor_gives_the_same_frame_as_processes(sc):
    pytest.importorskip("dask.distributed")
    grid = {"deployment.tensor_parallel": [1, 4], "hardware.chip": ["h100", "maia200"]}
    procs = sweep(sc, grid, replications=2, executor="processes", max_workers=2, progress=False)
    dk = sweep(sc, grid, replications=2, executor="dask", max_workers=2, progress=False)
    pd.testing.assert_frame_equal(dk, procs)


def test_progress_bar_runs(sc, capsys):
    df = sweep(sc, {"deployment.replicas": [1, 2]}, executor="serial", progress=True)
    assert len(df) == 2


@pytest.mark.parametrize("grid, match", [
    ({}, "non-empty"),
    ({"deployment.tensor_paralel": [1, 2]}, "cannot be set"),
    ({"deployment.tensor_parallel": []}, "empty"),
    ({"deployment.tensor_parallel": 4}, "list of values"),
])
def test_bad_grids_are_rejected_up_front(sc, grid, match):
    with pytest.raises(ms.ScenarioError, match=match):
        sweep(sc, grid, executor="serial", progress=False)


def test_bad_arguments(sc):
    with pytest.raises(ms.ScenarioError, match="replications"):
        sweep(sc, GRID, replications=0, executor="serial", progress=False)
    with pytest.raises(ms.ScenarioError, match="executor"):
        sweep(sc, GRID, executor="threads", progress=False)


# ---- confidence intervals ------------------------------------------------------------------------


@pytest.mark.parametrize("df_, q, expected", [
    (1, 0.975, 12.7062047), (2, 0.975, 4.30265273), (4, 0.975, 2.77644511),
    (9, 0.975, 2.26215716), (29, 0.975, 2.04522964), (2, 0.95, 2.91998558),
    (10, 0.995, 3.16927267), (1000, 0.975, 1.96233908),
])
def test_t_quantiles_match_published_tables(df_, q, expected):
    assert t_ppf(q, df_) == pytest.approx(expected, rel=1e-6)
    assert t_cdf(expected, df_) == pytest.approx(q, abs=1e-9)
    assert t_ppf(1 - q, df_) == pytest.approx(-expected, rel=1e-6)


#: Student t quantiles to double precision: closed forms for 1, 2 and 4 degrees of freedom,
#: scipy.special.stdtrit (the function behind scipy.stats.t.ppf) for the others
_Q975 = 4 * 0.975 * 0.025
T_EXACT = [
    (1, 0.975, math.tan(math.pi * 0.475)),
    (2, 0.975, 0.95 / math.sqrt(2 * 0.975 * 0.025)),
    (4, 0.975, 2 * math.sqrt(math.cos(math.acos(math.sqrt(_Q975)) / 3) / math.sqrt(_Q975) - 1)),
    (9, 0.975, 2.262157162798205), (29, 0.975, 2.045229642132703),
    (4, 0.95, 2.1318467863266495), (19, 0.995, 2.8609346064649794), (99, 0.9, 1.2901614420344854),
]


@pytest.mark.parametrize("df_, q, expected", T_EXACT)
def test_t_quantiles_are_exact_to_1e_9(df_, q, expected):
    assert t_ppf(q, df_) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("df_, q, expected", [t for t in T_EXACT if t[1] == 0.975])
def test_confidence_half_width_is_exact_to_1e_9(df_, q, expected):
    n = df_ + 1
    m = np.linspace(1.0, 3.0, n) ** 2
    df = pd.DataFrame({"x": 1, "replication": range(n), "seed": 0, "error": None, "m": m})
    ci = confidence(df, metrics=["m"], level=2 * q - 1).iloc[0]
    half = expected * m.std(ddof=1) / math.sqrt(n)
    assert ci.m_ci_high - ci.m_mean == pytest.approx(half, rel=1e-9)
    assert ci.m_mean - ci.m_ci_low == pytest.approx(half, rel=1e-9)


def test_confidence_interval_arithmetic():
    df = pd.DataFrame({"x": [1, 1, 1, 2, 2], "replication": [0, 1, 2, 0, 1], "seed": 0,
                       "error": [None, None, None, None, "boom"],
                       "m": [1.0, 2.0, 3.0, 5.0, np.nan]})
    ci = confidence(df, metrics=["m"], level=0.95)
    a = ci[ci.x == 1].iloc[0]
    half = 4.30265273 * 1.0 / math.sqrt(3)
    assert a.n == 3 and a.m_mean == pytest.approx(2.0) and a.m_std == pytest.approx(1.0)
    assert (a.m_ci_low == pytest.approx(2 - half, rel=1e-6)
            and a.m_ci_high == pytest.approx(2 + half, rel=1e-6))
    b = ci[ci.x == 2].iloc[0]  # one good replication: a mean but no interval
    assert b.n == 1 and b.m_mean == 5.0 and math.isnan(b.m_ci_low)


def test_confidence_on_a_sweep_keeps_failed_points(serial):
    ci = confidence(serial, metrics=["ttft_p99_s"])
    assert len(ci) == 4
    bad = ci[(ci["deployment.tensor_parallel"] == 1) & (ci["hardware.chip"] == "h100")].iloc[0]
    assert bad.n == 0 and math.isnan(bad.ttft_p99_s_mean)
    ok = ci.drop(bad.name)
    assert (ok.n == 2).all()
    assert ((ok.ttft_p99_s_ci_low <= ok.ttft_p99_s_mean).all()
            and (ok.ttft_p99_s_mean <= ok.ttft_p99_s_ci_high).all())
    with pytest.raises(ValueError, match="unknown metric"):
        confidence(serial, metrics=["nope"])


# ---- command line --------------------------------------------------------------------------------


def test_parse_grid_values_are_yaml():
    g = parse_grid(["a.b=1,2", "c=[x, y]", "d=true,0.5,none", "a.b=8"])
    assert g == {"a.b": [1, 2, 8], "c": ["x", "y"], "d": [True, 0.5, "none"]}
    with pytest.raises(UsageError):
        parse_grid(["novalue"])


@pytest.fixture
def scenario_file(tmp_path):
    p = tmp_path / "small.yaml"
    p.write_text(yaml.safe_dump(BASE))
    return p


def test_cli_sweep_writes_csv(scenario_file, tmp_path, capsys):
    out = tmp_path / "out" / "sweep.csv"
    rc = cli.main(["sweep", str(scenario_file), "--grid", "deployment.tensor_parallel=1,4",
                   "--grid", "hardware.chip=h100", "--replications", "2", "--executor", "serial",
                   "--set", "workload.0.arrival.rate_per_s=2", "-o", str(out)])
    assert rc == 0
    df = pd.read_csv(out)
    assert len(df) == 4 and df.error.notna().sum() == 2
    text = capsys.readouterr().out
    assert "confidence" in text and "2 of 4 runs failed" in text


@pytest.mark.parametrize("args", [
    ["--grid", "deployment.tensor_parallel"],
    ["--grid", "deployment.nope=1,2"],
    ["--grid", "deployment.tensor_parallel=1", "--replications", "0"],
    ["--grid", "deployment.tensor_parallel=1", "--set", "deployment.tensor_parallel=oops"],
])
def test_cli_sweep_bad_input_exits_2(scenario_file, args):
    assert cli.main(["sweep", str(scenario_file), "--executor", "serial", *args]) == 2


def test_confidence_is_reachable_from_the_sweep_function():
    assert sweep.confidence is confidence


def test_missing_dask_is_a_clear_error(sc, scenario_file, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    with pytest.raises(ImportError, match=r"pip install 'maiasim\[dask\]'"):
        sweep(sc, {"deployment.replicas": [1]}, executor="dask", progress=False)
    assert cli.main(["sweep", str(scenario_file), "--grid", "deployment.replicas=1",
                     "--executor", "dask"]) == 2
    # the other executors never import dask
    assert len(sweep(sc, {"deployment.replicas": [1]}, executor="serial", progress=False)) == 1
