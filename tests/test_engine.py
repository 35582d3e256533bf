"""Engine behaviour: queueing theory, conservation, determinism, fast-forward exactness."""

import numpy as np
import pandas as pd
import pytest
from conftest import small_scenario

import maiasim as ms
from maiasim.build import build


def _run(sc):
    return ms.simulate(sc)


def tight_kv(tokens: int) -> dict:
    """Overrides that leave room for about ``tokens`` KV tokens per replica, to force preemption."""
    mem = build(small_scenario()).memory
    need = mem.weights_bytes + mem.activation_bytes + tokens * mem.kv_bytes_per_token
    return {"workload.0.arrival": {"type": "burst", "count": 120},
            "deployment.scheduler.hbm_utilization": need / 216e9}


def test_every_request_ends_in_one_state_and_tokens_are_conserved(small):
    res = _run(small)
    req = res.requests
    assert len(req) > 100
    counts = req.status.value_counts()
    assert counts.sum() == len(req) == res.summary.iloc[-1].requests
    assert counts["completed"] == len(req)  # drained
    # every output token was produced by exactly one engine step
    assert (res.replicas.output_tokens.sum() == req.output_tokens_generated.sum()
            == req.output_tokens.sum())
    # without preemption every prompt token was prefilled exactly once
    assert req.preemptions.sum() == 0
    assert res.replicas.prefill_tokens.sum() == req.prompt_tokens.sum()
    done = req[req.status == "completed"]
    assert ((done.first_token_s >= done.arrival_s).all()
            and (done.finish_s >= done.first_token_s).all())


def test_littles_law_from_engine_steps(small):
    """Time-integral of the batch occupancy logged by the engine equals sum of residence times
    recorded per request, so L = lambda * W holds between the two independent records."""
    res = _run(small.with_overrides({"deployment.front_end.request_s": 0.0}))  # engine times
    st = res.records.steps.arrays()
    integral = float(np.sum(st["running"] * (st["end_s"] - st["start_s"])))
    req = res.requests
    residence = float((req.finish_s - req.admit_s).sum())
    assert integral == pytest.approx(residence, rel=1e-6)
    T = res.duration_s
    L = integral / T
    lam = len(req) / T
    W = residence / len(req)
    assert L == pytest.approx(lam * W, rel=1e-9)
    assert L > 1  # the batch really held several sequences


def test_md1_mean_wait():
    """One sequence at a time, fixed lengths, Poisson arrivals: M/D/1 with Pollaczek-Khinchine
    wait."""
    base = small_scenario(**{
        "deployment.replicas": 1,
        "deployment.scheduler.max_num_seqs": 1,
        "workload.0.prompt_tokens": {"type": "fixed", "value": 200},
        "workload.0.output_tokens": {"type": "fixed", "value": 20},
        "workload.0.arrival.rate_per_s": 0.001,
        "horizon_s": 20000,
        "deployment.front_end.request_s": 0.0,  # the engine's queue alone
    })
    probe = _run(base.with_overrides({"horizon_s": 5000}))
    D = float(probe.requests.e2e_s.median())  # service time of an unqueued request
    lam = 0.7 / D
    res = _run(base.with_overrides({"workload.0.arrival.rate_per_s": lam, "horizon_s": 20000 * D}))
    req = res.requests
    assert np.allclose(req.finish_s - req.admit_s, D, rtol=1e-9)  # deterministic service
    wait = (req.admit_s - req.arrival_s).mean()
    rho = lam * D
    expected = rho * D / (2 * (1 - rho))
    assert len(req) > 10000
    assert wait == pytest.approx(expected, rel=0.08)


def test_same_seed_identical_frames(small):
    a, b = _run(small), _run(small)
    for name in ("requests", "replicas", "timeline", "summary"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    c = _run(small.with_overrides({"seed": 43}))
    assert not c.requests.arrival_s.equals(a.requests.arrival_s)


def _pair(sc):
    ff = _run(sc.with_overrides({"engine.fast_forward": True}))
    st = _run(sc.with_overrides({"engine.fast_forward": False}))
    return ff, st


def _assert_same(ff, st):
    cols = ["arrival_s", "admit_s", "first_token_s", "finish_s", "ttft_s", "tpot_s", "e2e_s"]
    a, b = ff.requests, st.requests
    assert len(a) == len(b)
    for c in cols:
        np.testing.assert_allclose(a[c].to_numpy(float), b[c].to_numpy(float), rtol=1e-9, atol=1e-9,
                                   equal_nan=True)
    for c in ("prompt_tokens", "output_tokens", "output_tokens_generated", "replica", "preemptions",
              "status", "reason"):
        assert a[c].equals(b[c]), c
    for c in ("stepping_s", "mfu", "mbu", "output_tokens", "prefill_tokens", "kv_mean_frac",
              "kv_peak_frac", "preemptions"):
        np.testing.assert_allclose(ff.replicas[c].to_numpy(float), st.replicas[c].to_numpy(float),
                                   rtol=1e-9)
    num = ff.summary.select_dtypes("number").columns
    np.testing.assert_allclose(ff.summary[num].to_numpy(float), st.summary[num].to_numpy(float),
                               rtol=1e-8, equal_nan=True)
    assert ff.replicas.jumps.sum() > 0 and st.replicas.jumps.sum() == 0
    assert ff.replicas.steps.sum() == st.replicas.steps.sum()


@pytest.mark.parametrize("case", ["poisson", "burst", "closed_loop", "trace", "no_chunking",
                                  "preemption", "random_router", "stack_profile"])
def test_fast_forward_equals_step_by_step(case):
    over = {"horizon_s": 30}
    if case == "burst":
        over = {"workload.0.arrival": {"type": "burst", "count": 300}}
    elif case == "closed_loop":
        over = {"workload.0.arrival": {"type": "closed_loop", "concurrency": 24, "count": 200,
                                       "think_time_s": 0.5}}
    elif case == "trace":
        over = {"horizon_s": 120,
                "workload.0.arrival": {"type": "trace", "path": "azure:code", "time_scale": 0.5},
                "workload.0.prompt_tokens": None, "workload.0.output_tokens": None}
    elif case == "no_chunking":
        over = {"horizon_s": 30, "deployment.scheduler.chunked_prefill": False}
    elif case == "preemption":
        over = tight_kv(30000)
    elif case == "stack_profile":  # an eager 2023-style stack: host floors, per-sequence and
        # per-token costs, rank latency, all-reduce knee (the fitted Splitwise profiles use every
        # one of them)
        over = {"horizon_s": 30, "hardware.calibration": {
            "layer_launch_s": 2e-4, "prefill_layer_launch_s": 5e-4,
            "per_sequence_overhead_s": 3e-4,
            "per_token_overhead_s": 1e-5, "collective_rank_latency_s": 1e-5,
            "allreduce_knee_tokens": 1024, "allreduce_knee_slowdown": 2.0,
            "allreduce_knee_width": 0.35}}
    elif case == "random_router":
        over = {"horizon_s": 30, "router.policy": "random",
                "workload.0.arrival": {"type": "gamma", "rate_per_s": 6, "cv": 3}}
    ff, st = _pair(small_scenario(**over))
    _assert_same(ff, st)
    if case == "preemption":
        assert ff.requests.preemptions.sum() > 0
        assert (ff.requests.status == "completed").all()


def test_preemption_recomputes_and_conserves_tokens():
    sc = small_scenario(**tight_kv(30000))
    res = _run(sc)
    req = res.requests
    assert req.preemptions.sum() > 0
    assert res.replicas.output_tokens.sum() == req.output_tokens.sum()
    # recomputation re-prefills the prompt and the tokens generated before preemption
    assert res.replicas.prefill_tokens.sum() > req.prompt_tokens.sum()
    assert res.replicas.kv_peak_frac.max() <= 1.0


def test_horizon_without_drain_leaves_in_flight(small):
    res = _run(small.with_overrides({"engine.drain": False, "workload.0.arrival.rate_per_s": 30}))
    req = res.requests
    assert res.duration_s == pytest.approx(60)
    inflight = req[req.status == "in_flight"]
    assert len(inflight) > 0
    assert set(inflight.reason.astype(str)) <= {"queued_at_end", "running_at_end"}
    assert (req[req.status == "completed"].finish_s <= 60).all()
    s = res.summary.iloc[-1]
    assert s.completed + s.in_flight + s.rejected + s.dropped == s.requests


def test_rejections_have_reasons():
    sc = small_scenario(**{"workload.0.prompt_tokens": {"type": "uniform", "low": 100,
                                                        "high": 200000},
                           "horizon_s": 20})
    req = _run(sc).requests
    rej = req[req.status == "rejected"]
    assert len(rej) > 0
    assert set(rej.reason.astype(str)) <= {"exceeds_max_context", "exceeds_kv_capacity"}
    assert (rej.prompt_tokens + rej.output_tokens > 20000).all()


def test_routers_spread_load():
    for policy in ("round_robin", "least_outstanding", "random"):
        sc = small_scenario(**{"router.policy": policy, "deployment.replicas": 4,
                               "workload.0.arrival.rate_per_s": 8})
        per = _run(sc).requests.replica.value_counts()
        assert len(per) == 4
        assert per.min() > 0.15 * per.sum(), policy


def test_least_outstanding_beats_random_on_tail_latency():
    # routing shows in queueing (TTFT) and batch sizes (TPOT); end-to-end tails are set by output
    # lengths
    over = {"deployment.replicas": 4, "workload.0.arrival.rate_per_s": 40, "horizon_s": 60}
    lo = _run(small_scenario(**over, **{"router.policy": "least_outstanding"})).summary.iloc[-1]
    rnd = _run(small_scenario(**over, **{"router.policy": "random"})).summary.iloc[-1]
    assert lo.ttft_p99_s < rnd.ttft_p99_s
    assert lo.tpot_p99_s < rnd.tpot_p99_s


def test_more_replicas_lower_latency():
    over = {"workload.0.arrival.rate_per_s": 12}
    two = _run(small_scenario(**over)).summary.iloc[-1]
    four = _run(small_scenario(**over, **{"deployment.replicas": 4})).summary.iloc[-1]
    assert four.ttft_p99_s < two.ttft_p99_s
    assert four.tpot_p50_s < two.tpot_p50_s
    assert four.cost_usd > two.cost_usd


def test_queue_timeout_drops_with_reason_in_both_modes():
    sc = small_scenario(**{"deployment.replicas": 1, "deployment.scheduler.max_num_seqs": 4,
                           "deployment.scheduler.queue_timeout_s": 2.0,
                           "workload.0.arrival.rate_per_s": 6, "horizon_s": 30})
    ff, st = _pair(sc)
    _assert_same(ff, st)
    req = ff.requests
    dropped = req[req.status == "dropped"]
    assert len(dropped) > 0 and set(dropped.reason.astype(str)) == {"queue_timeout"}
    assert dropped.first_token_s.isna().all()
    s = ff.summary.iloc[-1]
    assert s.dropped == len(dropped) and s.slo_attainment < 1
