"""Failures (issue 13): components fail at published rates, replicas go down and come back,
their requests are retried elsewhere or dropped with a reason, and nothing is lost."""

import copy
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import SMALL

import maiasim as ms
from maiasim.engine.failures import check_failures
from maiasim.scenario.failures import LLAMA3_GPU_HOURS, FailuresConfig
from maiasim.studies.plan import plan
from maiasim.studies.spares import enough_up, replica_unavailability, spares_for

#: every component fails often enough that a minute of traffic on 2 replicas sees several
DRILL = {"chip": {"rate_per_hour": 15.0, "repair_s": 4.0, "reload_s": 2.0},
         "hbm": {"rate_per_hour": 5.0, "repair_s": 3.0, "reload_s": 1.0},
         "host": {"rate_per_hour": 2.0, "repair_s": 5.0, "reload_s": 1.0},
         "link": {"rate_per_hour": 0.0}, "max_retries": 2}


def _sc(failures=None, **over) -> ms.Scenario:
    d = copy.deepcopy(SMALL)
    d["workload"][0]["arrival"]["rate_per_s"] = 6
    if failures is not None:
        d["failures"] = copy.deepcopy(failures)
    sc = ms.from_dict(d)
    return sc.with_overrides(over) if over else sc


def _conserved(res) -> None:
    req = res.requests
    assert req.status.notna().all() and req.reason.notna().all()
    done = req[req.status == "completed"]
    assert (done.output_tokens_generated == done.output_tokens).all()
    s = res.summary.set_index("workload").loc["all"]
    assert s.completed + s.rejected + s.dropped + s.in_flight == s.requests == len(req)
    assert (req.output_tokens_generated <= req.output_tokens).all()


@pytest.fixture(scope="module")
def drill():
    return ms.simulate(_sc(DRILL))


def test_with_failures_on_every_request_ends_in_one_state_and_tokens_are_conserved(drill):
    _conserved(drill)
    f = drill.failures
    assert len(f) >= 3 and set(f.component.astype(str)) <= {"chip", "hbm", "host", "link"}
    assert (f.repair_end_s > f.time_s).all()
    s = drill.summary.set_index("workload").loc["all"]
    assert s.retried > 0 and 0 < s.availability < 1
    assert drill.timeline.replicas_down.max() > 0


def test_a_failed_replicas_requests_are_retried_elsewhere_and_recompute(drill):
    req = drill.requests
    retried = req[(req.retries > 0) & (req.status == "completed")]
    assert len(retried)
    base = ms.simulate(_sc())
    # the retried requests' prompts (and tokens generated before) were recomputed: more prefill
    assert drill.replicas.prefill_tokens.sum() > base.replicas.prefill_tokens.sum()
    # none finished on a replica while it was down
    f = drill.failures
    for _, r in retried.iterrows():
        hits = f[(f.replica == r.replica) & (f.time_s < r.finish_s) & (f.repair_end_s > r.finish_s)]
        assert hits.empty


def test_availability_matches_the_outages(drill):
    tl = drill.timeline
    width = np.diff(np.append(tl.time_s.to_numpy(), drill.duration_s))
    down = float((tl.replicas_down * width).sum())
    n = drill.scenario.replicas
    assert drill.availability == pytest.approx(1 - down / (n * drill.duration_s), rel=1e-9)


def test_a_failure_free_run_is_identical_to_the_run_without_failures():
    base = ms.simulate(_sc())
    for f in ({"enabled": False, **DRILL},
              {k: ({"rate_per_hour": 0.0} if k in ("chip", "hbm", "host", "link") else v)
               for k, v in DRILL.items()}):
        other = ms.simulate(_sc(f))
        for frame in ("summary", "requests", "replicas", "timeline", "pools"):
            pd.testing.assert_frame_equal(getattr(base, frame), getattr(other, frame), obj=frame)
        assert other.failures.empty and other.availability == 1.0


def test_a_host_failure_takes_every_replica_of_its_tray():
    # Maia 200: 4 chips per tray, so TP1 puts 4 replicas on each tray
    sc = _sc({"chip": {"rate_per_hour": 0.0}, "hbm": {"rate_per_hour": 0.0},
              "link": {"rate_per_hour": 0.0},
              "host": {"rate_per_hour": 120.0, "repair_s": 5.0, "reload_s": 0.0}},
             **{"deployment.tensor_parallel": 1, "deployment.replicas": 8,
                "model": "llama-3.1-8b"})
    res = ms.simulate(sc)
    f = res.failures
    assert len(f) and (f.component == "host").all()
    for _, g in f.groupby("time_s"):
        assert sorted(g.replica) == list(range(g.replica.min() // 4 * 4, g.replica.min() // 4 * 4
                                               + 4))
    _conserved(res)


def test_same_seed_same_frames_and_another_seed_other_failures():
    a, b = ms.simulate(_sc(DRILL)), ms.simulate(_sc(DRILL))
    for frame in ("summary", "requests", "replicas", "timeline", "failures"):
        pd.testing.assert_frame_equal(getattr(a, frame), getattr(b, frame), obj=frame)
    c = ms.simulate(_sc(DRILL, seed=43))
    assert not a.failures.time_s.equals(c.failures.time_s)


@pytest.mark.parametrize("seed", [42, 5])
def test_fast_forward_on_and_off_agree_with_failures_on(seed):
    sc = _sc(DRILL, seed=seed)
    ff = ms.simulate(sc)
    st = ms.simulate(sc.with_overrides({"engine.fast_forward": False}))
    assert ff.replicas.jumps.sum() > 0 and len(ff.failures)
    pd.testing.assert_frame_equal(ff.failures, st.failures)
    for c in ("status", "reason", "replica", "retries", "output_tokens_generated"):
        assert ff.requests[c].tolist() == st.requests[c].tolist(), c
    for c in ("finish_s", "first_token_s"):
        np.testing.assert_allclose(ff.requests[c], st.requests[c], rtol=1e-9, err_msg=c)
    for c in ("steps", "output_tokens", "prefill_tokens"):
        assert ff.replicas[c].tolist() == st.replicas[c].tolist(), c
    np.testing.assert_allclose(ff.replicas.stepping_s, st.replicas.stepping_s, rtol=1e-9)


def test_retries_are_limited_and_a_pool_with_no_replica_up_drops():
    # one replica: a failure leaves nothing to retry on
    one = ms.simulate(_sc({**DRILL, "max_retries": 5}, **{"deployment.replicas": 1}))
    _conserved(one)
    req = one.requests
    assert (req.reason == "no_replica_available").any()
    s = one.summary.set_index("workload").loc["all"]
    assert s.no_replica_available == int((req.reason == "no_replica_available").sum())
    # no retries allowed: a request that had KV when its replica went down is dropped
    none = ms.simulate(_sc({**DRILL, "max_retries": 0}))
    _conserved(none)
    dropped = none.requests[none.requests.reason == "failed_retries_exhausted"]
    assert len(dropped) and (dropped.retries == 1).all()


def test_a_planned_drain_takes_its_replicas_out_for_its_duration():
    drain = {"chip": {"rate_per_hour": 0}, "hbm": {"rate_per_hour": 0},
             "host": {"rate_per_hour": 0}, "link": {"rate_per_hour": 0},
             "drains": [{"at_s": 20, "duration_s": 15, "replicas": [0]}]}
    res = ms.simulate(_sc(drain))
    f = res.failures
    assert len(f) == 1 and f.component.iloc[0] == "drain" and f.replica.iloc[0] == 0
    req = res.requests
    during = req[(req.arrival_s > 20) & (req.arrival_s < 35)]
    assert len(during) and (during.replica == 1).all()
    assert res.availability == pytest.approx(1 - 15 / (2 * res.duration_s))
    _conserved(res)


def test_failures_in_a_disaggregated_fleet_conserve_requests():
    pool = {"hardware": {"chip": "maia200"}, "model": "llama-3.1-70b",
            "deployment": {"tensor_parallel": 4, "replicas": 2}}
    d = {"name": "dis", "seed": 3, "horizon_s": 60,
         "fleet": {"pools": [{**pool, "name": "pre", "role": "prefill"},
                             {**pool, "name": "dec", "role": "decode"}]},
         "workload": copy.deepcopy(SMALL["workload"]), "failures": DRILL}
    res = ms.simulate(ms.from_dict(d))
    _conserved(res)
    assert set(res.failures.pool.astype(str)) == {"pre", "dec"}


def test_default_rates_are_the_llama3_breakdown():
    f = FailuresConfig()
    assert f.rate("chip") == pytest.approx(148 / LLAMA3_GPU_HOURS)
    assert f.rate("hbm") == pytest.approx(72 / LLAMA3_GPU_HOURS)
    assert f.rate("link") == pytest.approx(35 / LLAMA3_GPU_HOURS)
    assert f.rate("host") == pytest.approx(2 / (2048 * 54 * 24))
    assert f.chip.repair_s == pytest.approx(2.2 * 3600) and f.chip.reload_s == 600
    assert FailuresConfig(chip={"mtbf_hours": 1000}).rate("chip") == pytest.approx(1e-3)
    # a component given only its repair time keeps its published rate
    part = FailuresConfig(chip={"repair_s": 60})
    assert part.rate("chip") == pytest.approx(148 / LLAMA3_GPU_HOURS)
    assert part.chip.down_s == 660
    assert FailuresConfig(chip={"rate_per_hour": 0}).rate("chip") == 0
    # a rate given as MTBF by an override of a scenario with default rates
    sc = _sc({}).with_overrides({"failures.chip.mtbf_hours": 50})
    assert sc.failures.rate("chip") == pytest.approx(0.02)
    assert ms.from_dict(yaml.safe_load(sc.to_yaml())).failures == sc.failures


@pytest.mark.parametrize("bad, field", [
    ({"chip": {"rate_per_hour": -1}}, "failures.chip.rate_per_hour"),
    ({"hbm": {"rate_per_hour": "often"}}, "failures.hbm.rate_per_hour"),
    ({"host": {"repair_s": -5}}, "failures.host.repair_s"),
    ({"link": {"reload_s": -1}}, "failures.link.reload_s"),
    ({"chip": {"mtbf_hours": 0}}, "failures.chip.mtbf_hours"),
    ({"chip": {"rate_per_hour": 1, "mtbf_hours": 2}}, "failures.chip"),
    ({"max_retries": -1}, "failures.max_retries"),
    ({"drains": [{"at_s": -1, "duration_s": 5}]}, "failures.drains[0].at_s"),
    ({"drains": [{"at_s": 1, "duration_s": 5, "fraction": 2}]}, "failures.drains[0].fraction"),
])
def test_bad_failure_input_names_the_field(bad, field):
    with pytest.raises(ms.ScenarioError, match=re.escape(field)):
        _sc(bad)


@pytest.mark.parametrize("drain, field", [
    ({"at_s": 1, "duration_s": 5, "pool": "nope"}, "failures.drains[0].pool"),
    ({"at_s": 1, "duration_s": 5, "replicas": [7]}, "failures.drains[0].replicas"),
])
def test_a_drain_of_a_pool_or_replica_the_fleet_lacks_is_refused(drain, field):
    sc = _sc({"drains": [drain]})
    with pytest.raises(ms.ScenarioError, match=re.escape(field)):
        check_failures(sc)
    with pytest.raises(ms.ScenarioError, match=re.escape(field)):
        ms.simulate(sc)


def test_cli_exits_2_on_a_bad_failure_rate(tmp_path):
    d = copy.deepcopy(SMALL)
    d["failures"] = {"chip": {"rate_per_hour": -0.5}}
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(d))
    r = subprocess.run([sys.executable, "-m", "maiasim", "run", str(p)], capture_output=True,
                       text=True)
    assert r.returncode == 2
    assert "failures.chip.rate_per_hour" in r.stderr and "Traceback" not in r.stderr


# ---- N+k planning -------------------------------------------------------------------------------


def test_spares_math_against_hand_computation():
    cfg = FailuresConfig(chip={"rate_per_hour": 0.01, "repair_s": 3600, "reload_s": 0},
                         hbm={"rate_per_hour": 0}, host={"rate_per_hour": 0},
                         link={"rate_per_hour": 0})
    u = replica_unavailability(cfg, 4, 4)  # 4 chips: 0.04 failures/h of 1 h each
    assert u == pytest.approx(0.04 / 1.04)
    assert enough_up(3, 0, u) == pytest.approx((1 - u) ** 3)
    assert enough_up(3, 1, u) == pytest.approx((1 - u) ** 4 + 4 * u * (1 - u) ** 3)
    k = spares_for(3, u, 0.999)
    assert enough_up(3, k, u) >= 0.999 > enough_up(3, k - 1, u)
    assert replica_unavailability(FailuresConfig(enabled=False), 4, 4) == 0.0


def test_plan_adds_spares_and_sizes_for_an_availability_target():
    sc = _sc(**{"horizon_s": 20})
    df = plan(sc, spares=2)
    row = df.iloc[0]
    assert row.feasible and row.spares == 2 and row.chips == row.replicas * 4
    base = int(row.replicas) - 2
    # the published default rates leave a TP4 Maia 200 replica down ~1e-4 of the time
    df = plan(sc, availability=0.99999)
    row = df.iloc[0]
    assert row.spares >= 1 and row.enough_up >= 0.99999 and row.replicas == base + row.spares
    with pytest.raises(ms.ScenarioError, match="availability"):
        plan(sc, availability=1.5)
    with pytest.raises(ms.ScenarioError, match="spares"):
        plan(sc, spares=-1)


def test_cli_run_prints_the_failures_and_writes_their_frame(tmp_path):
    d = copy.deepcopy(SMALL)
    d["failures"] = DRILL
    p = tmp_path / "drill.yaml"
    p.write_text(yaml.safe_dump(d))
    r = subprocess.run([sys.executable, "-m", "maiasim", "run", str(p), "-o", str(tmp_path / "o"),
                        "--no-plots"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "failures: " in r.stdout and "availability" in r.stdout
    f = pd.read_csv(tmp_path / "o" / "failures.csv")
    assert list(f.columns) == ["time_s", "pool", "replica", "component", "repair_end_s"]
    assert len(f)


def test_drains_at_the_same_instant_stop_a_replica_whose_jump_was_just_cut():
    # both replicas decode one long request in a jump; the first drain moves replica 0's request
    # to replica 1, cutting its jump short; the second takes replica 1 down at the same instant,
    # before that interrupt reaches its loop: both requests end, with no replica left up
    off = {k: {"rate_per_hour": 0.0} for k in ("chip", "hbm", "host", "link")}
    drains = [{"at_s": 20.0, "duration_s": 5.0, "replicas": [0]},
              {"at_s": 20.0, "duration_s": 5.0, "replicas": [1]}]
    over = {"workload.0.arrival": {"type": "burst", "count": 2},
            "workload.0.prompt_tokens": {"type": "fixed", "value": 100},
            "workload.0.output_tokens": {"type": "fixed", "value": 8000}}
    gen = []
    for ff in (True, False):
        res = ms.simulate(_sc({**off, "drains": drains}, **over, **{"engine.fast_forward": ff}))
        _conserved(res)
        req = res.requests
        assert (req.reason == "no_replica_available").all() and req.retries.tolist() == [1, 1]
        assert res.replicas.jumps.sum() > 0 if ff else True
        gen.append(req.output_tokens_generated.tolist())
    assert gen[0] == gen[1] and min(gen[0]) > 100


def test_goodput_lost_counts_the_requests_a_failure_cost_their_slo():
    res = ms.simulate(_sc(DRILL))
    req, s = res.requests, res.summary.set_index("workload").loc["all"]
    touched = (req.retries > 0) | req.reason.astype(str).isin(
        ("failed_retries_exhausted", "no_replica_available"))
    assert s.goodput_lost_req_s * res.duration_s <= touched.sum()
    calm = ms.simulate(_sc(DRILL).with_overrides({"failures.enabled": False}))
    assert calm.summary.set_index("workload").loc["all"].goodput_lost_req_s == 0
