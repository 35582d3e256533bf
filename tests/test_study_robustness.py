"""Studies survive their infrastructure: dead sweep workers, unreachable Dask, hopeless plans."""

import copy
import importlib
import math
import os
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import SMALL

import maiasim as ms
from maiasim import cli
from maiasim.studies.executors import run_tasks
from maiasim.studies.plan import MAX_REPLICAS, plan
from maiasim.studies.sweep import sweep

# the modules themselves (``maiasim.studies.sweep`` the attribute is the function)
sweep_mod = importlib.import_module("maiasim.studies.sweep")
plan_mod = importlib.import_module("maiasim.studies.plan")
executors = importlib.import_module("maiasim.studies.executors")

#: a grid value that makes the task function below kill its own worker process
SENTINEL = 13.0
RATE = "workload.0.arrival.rate_per_s"


#: Llama-3.1-8B on one Maia 200, 10 s of 1 request/s: each run takes milliseconds
TINY = {**copy.deepcopy(SMALL), "name": "tiny", "model": "llama-3.1-8b", "horizon_s": 10,
        "deployment": {"tensor_parallel": 1, "replicas": 1}}
TINY["workload"][0]["arrival"]["rate_per_s"] = 1.0


def tiny(**slo) -> ms.Scenario:
    return ms.from_dict(TINY).with_overrides({f"workload.0.slo.{k}": v for k, v in slo.items()})


def tiny_file(tmp_path: Path, **slo) -> Path:
    d = copy.deepcopy(TINY)
    d["workload"][0]["slo"].update(slo)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(d))
    return path


# ---- task functions that kill their worker (module level, so the pool can pickle them) ---------


def square_or_die(x: int) -> int:
    if x == 3:
        os._exit(1)  # what the OOM killer or a segfault looks like from the pool
    return x * x


def run_or_die(task: tuple) -> dict:
    """The sweep's task, except that the sentinel point dies like an out-of-memory worker."""
    if task[1].get(RATE) == SENTINEL:
        os._exit(1)
    return sweep_mod.run_point(*task)


_PLAN_ONE = plan_mod._plan_one


def plan_or_die(task: tuple) -> dict:
    """The planner's task, except that the h100 search dies like an out-of-memory worker."""
    if task[1] == "h100":
        os._exit(1)
    return _PLAN_ONE(task)


def run_or_die_once(task: tuple) -> dict:
    """The sentinel point dies the first time only (a transient failure): the retry must succeed."""
    marker = Path(os.environ["MAIASIM_TEST_MARKER"])
    if task[1].get(RATE) == SENTINEL and not marker.exists():
        marker.write_text("died once")
        os._exit(1)
    return sweep_mod.run_point(*task)


# ---- 1. a dead worker costs its own point, not the sweep -----------------------------------------


def test_run_tasks_survives_a_worker_that_dies():
    out = run_tasks(square_or_die, list(range(8)), executor="processes", max_workers=2,
                    progress=False)
    assert [r for i, r in enumerate(out) if i != 3] == [i * i for i in range(8) if i != 3]
    assert out[3]["error"].startswith("worker died (BrokenProcessPool):")


def test_a_point_that_kills_its_worker_is_an_error_row_and_the_rest_are_intact(monkeypatch):
    sc = tiny()
    clean = sweep(sc, {RATE: [0.5, 1.0, 2.0]}, replications=2, executor="processes",
                  max_workers=2, progress=False)
    monkeypatch.setattr(sweep_mod, "_run_task", run_or_die)
    df = sweep(sc, {RATE: [0.5, SENTINEL, 1.0, 2.0]}, replications=2, executor="processes",
               max_workers=2, progress=False)
    bad = df[df[RATE] == SENTINEL]
    assert len(bad) == 2
    assert bad.error.str.startswith("worker died (BrokenProcessPool):").all()
    assert bad.ttft_p99_s.isna().all() and (bad.chips == 1).all()
    good = df.drop(bad.index).reset_index(drop=True)
    pd.testing.assert_frame_equal(good, clean, check_dtype=False)  # NaN rows make ints floats


def test_a_worker_that_dies_once_is_retried(monkeypatch, tmp_path):
    sc = tiny()
    grid = {RATE: [0.5, SENTINEL, 1.0]}
    clean = sweep(sc, grid, executor="serial", progress=False)
    monkeypatch.setenv("MAIASIM_TEST_MARKER", str(tmp_path / "marker"))
    monkeypatch.setattr(sweep_mod, "_run_task", run_or_die_once)
    df = sweep(sc, grid, executor="processes", max_workers=2, progress=False)
    assert (tmp_path / "marker").exists(), "the sentinel point should have killed a worker"
    pd.testing.assert_frame_equal(df, clean)


def test_plan_survives_a_worker_that_dies(monkeypatch):
    monkeypatch.setattr(plan_mod, "_plan_one", plan_or_die)
    df = plan(tiny(), chips=["maia200", "h100"], executor="processes", max_workers=2)
    r = df.set_index("chip")
    assert bool(r.loc["maia200", "feasible"])
    assert not r.loc["h100", "feasible"]
    assert r.loc["h100", "reason"].startswith("worker died (BrokenProcessPool):")


# ---- 2. an unreachable Dask scheduler is a usage error, fast ------------------------------------

CLOSED = "tcp://127.0.0.1:1"  # loopback, a port nothing listens on


def test_unreachable_dask_address_is_a_clear_error_fast(monkeypatch):
    pytest.importorskip("dask.distributed")
    monkeypatch.setattr(executors, "DASK_CONNECT_TIMEOUT_S", 0.5)
    t0 = time.perf_counter()
    with pytest.raises(ConnectionError, match="127.0.0.1:1"):
        sweep(tiny(), {RATE: [1.0]}, executor="dask", address=CLOSED, progress=False)
    assert time.perf_counter() - t0 < 5


def test_cli_unreachable_dask_address_exits_2(monkeypatch, tmp_path, capsys):
    pytest.importorskip("dask.distributed")
    monkeypatch.setattr(executors, "DASK_CONNECT_TIMEOUT_S", 0.5)
    path = tiny_file(tmp_path)
    for addr in (CLOSED, "127.0.0.1"):  # closed port; no port at all
        rc = cli.main(["sweep", str(path), "--grid", f"{RATE}=1", "--executor", "dask",
                       "--address", addr])
        assert rc == 2
        err = capsys.readouterr().err
        assert "Dask scheduler" in err and "127.0.0.1" in err and "Traceback" not in err


# ---- 3. a hopeless plan stops early ------------------------------------------------------------


@pytest.fixture
def counted(monkeypatch):
    """Count the simulations the planner runs (it calls ``maiasim.api.simulate``)."""
    calls: list[int] = []
    real = ms.simulate

    def counting(sc, *a, **kw):
        calls.append(sc.replicas)
        return real(sc, *a, **kw)

    monkeypatch.setattr(plan_mod, "simulate", counting)
    return calls


def test_slo_below_an_idle_replica_is_infeasible_without_searching_up(counted):
    sc = tiny(ttft_p99_s=0.0001)
    t0 = time.perf_counter()
    df = plan(sc, chips=["maia200", "h100"], max_replicas=MAX_REPLICAS)
    assert time.perf_counter() - t0 < 10
    assert not df.feasible.any()
    assert df.reason.str.contains("SLO not met even with an idle replica").all()
    assert df.reason.str.contains("ttft_p99_s").all()
    assert (df.simulations <= 10).all() and len(counted) == df.simulations.sum()
    assert max(counted) <= 64, f"fleets grew to {max(counted)} replicas"


def test_replicas_that_help_are_not_cut_short(counted):
    """Overloaded, TPOT gets worse from 1 to 2 replicas (full batches either way), yet a few more
    meet it: queueing keeps the search going, and the plan is minimal and verified."""
    sc = tiny(tpot_p99_s=0.015).with_overrides({RATE: 400.0})
    df = plan(sc, max_replicas=MAX_REPLICAS)
    r = df.iloc[0]
    assert r.feasible and r.verified and not r.fewer_meets_slo, r.reason
    assert r.replicas >= 4 and counted[:3] == [1, 2, 4]


def _p(excess: float, queued: float = 0.0, incomplete: int = 0) -> plan_mod.Probe:
    return plan_mod.Probe(False, "", excess, incomplete, queued)


@pytest.mark.parametrize("prev, cur, helps", [
    (_p(300), _p(300), False),  # flat without queueing: an SLO below the idle latency
    (_p(1.10), _p(1.07), True),  # still improving, close enough to get there
    (_p(2.0), _p(1.9), False),  # improving too slowly to close the gap
    (_p(300, queued=0.9), _p(300, queued=0.5), True),  # queueing: relief can be sudden
    (_p(0.5, incomplete=9), _p(0.5, incomplete=9), False),  # rejected as too large, every time
    (_p(0.5, incomplete=9), _p(0.5, incomplete=3), True),
    (_p(math.inf, incomplete=9), _p(math.inf, incomplete=9), False),  # nothing ever completes
    (_p(math.inf, incomplete=9), _p(5.0, incomplete=9), True),
])
def test_more_replicas_may_help(prev, cur, helps):
    assert plan_mod._more_may_help(prev, cur) is helps


def test_max_replicas_beyond_the_schema_limit_is_refused(counted, tmp_path):
    with pytest.raises(ms.ScenarioError, match="max_replicas"):
        plan(tiny(ttft_p99_s=0.0001), max_replicas=MAX_REPLICAS + 1)
    path = tiny_file(tmp_path, ttft_p99_s=0.0001)
    t0 = time.perf_counter()
    assert cli.main(["plan", str(path), "--max-replicas", "100000000", "--executor",
                     "serial"]) == 2
    assert time.perf_counter() - t0 < 5 and not counted
