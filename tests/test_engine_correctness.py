"""Regression tests for engine bugs that gave wrong answers that looked right (issue 10).

Each test failed before its fix: a drained run left requests in flight (deadlock), KV overcommit
without chunking thrashed, a cut run lost the fast-forward jump in progress, the timeline recorded
a jump's queue and KV use as constants, rejected closed-loop requests recursed, and result frames
were handed out by reference.
"""

import numpy as np
import pandas as pd
import pytest
from conftest import small_scenario

import maiasim as ms


def _scenario(**over) -> ms.Scenario:
    base = {
        "name": "t", "seed": 1, "horizon_s": 60,
        "hardware": {"chip": "maia200"}, "model": "llama-3.1-8b",
        "precision": {"kv_cache": "fp8"},  # the KV capacities below assume FP8 KV
        "deployment": {"replicas": 1},
        "workload": [{"name": "w", "arrival": {"type": "poisson", "rate_per_s": 1},
                      "prompt_tokens": {"type": "fixed", "value": 100},
                      "output_tokens": {"type": "fixed", "value": 10}}],
    }
    return ms.from_dict(base).with_overrides(over) if over else ms.from_dict(base)


def _deadlock_scenario(fast_forward: bool = True) -> ms.Scenario:
    """The issue's reproduction: a preempted 8,000-token prompt comes back needing more prefill
    than the (unchunked) token budget allows."""
    burst = {"name": "long", "arrival": {"type": "burst", "count": 3},
             "prompt_tokens": {"type": "fixed", "value": 8000},
             "output_tokens": {"type": "fixed", "value": 2000}}
    chat = {"name": "chat", "arrival": {"type": "poisson", "rate_per_s": 1},
            "prompt_tokens": {"type": "fixed", "value": 100},
            "output_tokens": {"type": "fixed", "value": 10}}
    return _scenario(**{
        "deployment.scheduler": {"chunked_prefill": False, "max_batch_tokens": 8192,
                                 "hbm_utilization": 0.05},
        "workload": [burst, chat], "engine.fast_forward": fast_forward})


@pytest.mark.parametrize("ff", [True, False])
def test_no_deadlock_when_recompute_exceeds_the_unchunked_budget(ff):
    res = ms.simulate(_deadlock_scenario(ff))
    req = res.requests
    assert (req.status != "in_flight").all(), req.status.value_counts()
    assert res.records.requests.preemptions.sum() > 0  # the scenario does preempt
    # what could not be recomputed is dropped with a reason, never left waiting
    lost = req[req.status == "dropped"]
    assert (lost.reason == "recompute_exceeds_max_batch_tokens").all()
    assert (req[req.workload == "chat"].status == "completed").all()


def _thrash_scenario(max_num_seqs: int) -> ms.Scenario:
    return _scenario(**{
        "hardware.chip": "h200", "model": "llama-2-70b", "horizon_s": 1,
        "deployment.scheduler": {"chunked_prefill": False, "max_batch_tokens": 65536,
                                 "max_num_seqs": max_num_seqs},
        "workload.0.arrival": {"type": "burst", "count": 1024},
        "workload.0.prompt_tokens": {"type": "fixed", "value": 128},
        "workload.0.output_tokens": {"type": "fixed", "value": 512}})


def test_kv_overcommit_without_chunking_does_not_thrash():
    over = ms.simulate(_thrash_scenario(1024))
    fits = over.memory_plan.kv_capacity_tokens // (640 + over.memory_plan.per_sequence_tokens)
    limited = ms.simulate(_thrash_scenario(int(fits)))
    assert (over.requests.status == "completed").all()
    assert over.requests.preemptions.mean() < 1.0
    assert over.duration_s < 1.5 * limited.duration_s


@pytest.mark.parametrize("cut", [{"engine.drain": False}, {"engine.max_drain_s": 0.5}])
def test_fast_forward_is_exact_when_the_run_is_cut(cut):
    sc = _scenario(**{"horizon_s": 1, **cut,
                      "workload.0.arrival": {"type": "burst", "count": 4},
                      "workload.0.output_tokens": {"type": "fixed", "value": 2000}})
    ff = ms.simulate(sc.with_overrides({"engine.fast_forward": True}))
    st = ms.simulate(sc.with_overrides({"engine.fast_forward": False}))
    assert ff.replicas.jumps.sum() > 0
    assert st.requests.output_tokens_generated.min() > 100
    assert (ff.requests.output_tokens_generated.tolist()
            == st.requests.output_tokens_generated.tolist())
    for c in ("steps", "output_tokens"):
        assert ff.replicas[c].tolist() == st.replicas[c].tolist(), c
    for c in ("stepping_s", "mfu", "mbu", "kv_mean_frac", "energy_j"):
        np.testing.assert_allclose(ff.replicas[c], st.replicas[c], rtol=1e-9, err_msg=c)


def _queue_scenario(rho: float, ff: bool) -> ms.Scenario:
    """One sequence at a time and fixed lengths: an M/D/1 queue at utilisation ``rho``."""
    sc = _scenario(**{"deployment.scheduler.max_num_seqs": 1, "horizon_s": 400,
                      "deployment.front_end.request_s": 0.0,  # service = the engine's time
                      "workload.0.output_tokens": {"type": "fixed", "value": 50}})
    probe = ms.simulate(sc.with_overrides({"workload.0.arrival.rate_per_s": 0.01}))
    service = float(probe.requests.e2e_s.median())
    return sc.with_overrides({"workload.0.arrival.rate_per_s": rho / service,
                              "horizon_s": 3000 * service, "engine.fast_forward": ff})


@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_littles_law_on_the_timeline_queue_with_fast_forward(rho):
    res = ms.simulate(_queue_scenario(rho, ff=True))
    assert res.replicas.jumps.sum() > 0
    tl, req = res.timeline, res.requests
    width = np.diff(np.append(tl.time_s.to_numpy(), res.duration_s))  # the last bin is shorter
    L = float((tl.queue_depth * width).sum()) / res.duration_s
    lam_w = float((req.admit_s - req.arrival_s).sum()) / res.duration_s
    assert L == pytest.approx(lam_w, rel=0.03)


@pytest.mark.parametrize("rho, seed", [(0.8, 1), (0.8, 5), (0.9, 1), (0.9, 4)])
def test_timeline_is_the_same_with_and_without_fast_forward(rho, seed):
    """Seeds 5 and 4 put an arrival within 3e-7 s after a step boundary: the boundary tolerance
    of fast-forward (then 1e-9 of the clock) let it join a step early."""
    sc = _queue_scenario(rho, ff=True).with_overrides({"deployment.scheduler.max_num_seqs": 8,
                                                        "seed": seed})
    ff = ms.simulate(sc)
    st = ms.simulate(sc.with_overrides({"engine.fast_forward": False}))
    assert ff.replicas.jumps.sum() > 0
    np.testing.assert_allclose(ff.requests.admit_s, st.requests.admit_s, rtol=1e-12)
    a, b = ff.timeline, st.timeline
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    for c in a.columns:
        np.testing.assert_allclose(a[c], b[c], rtol=1e-6, atol=1e-9, err_msg=c)


def test_closed_loop_of_rejected_requests_does_not_recurse():
    sc = _scenario(**{"workload.0.arrival": {"type": "closed_loop", "concurrency": 1,
                                             "count": 5000},
                      "workload.0.prompt_tokens": {"type": "fixed", "value": 200_000}})
    res = ms.simulate(sc)
    req = res.requests
    assert len(req) == 5000
    assert (req.status == "rejected").all() and (req.reason == "exceeds_max_context").all()


def test_frames_are_not_shared_with_the_caller():
    res = ms.simulate(_scenario(**{"horizon_s": 20}))
    before = res.summary.copy()
    req, reps, summary = res.requests, res.replicas, res.summary
    req.loc[:, "ttft_s"] = 1e9
    req.pop("e2e_s")
    reps.loc[:, "stepping_s"] = -1.0
    summary.loc[:, "output_tok_s"] = 0.0
    fresh = ms.Result(res.scenario, res.records)
    pd.testing.assert_frame_equal(fresh.summary, before)
    pd.testing.assert_frame_equal(res.summary, before)
    assert len(res.requests) == before.requests.iloc[-1]


def test_a_long_drain_never_makes_more_than_a_million_timeline_bins():
    sc = _scenario(**{"horizon_s": 1, "engine.timeline_bin_s": 1e-6,
                      "workload.0.arrival": {"type": "burst", "count": 50},
                      "workload.0.output_tokens": {"type": "fixed", "value": 2000}})
    res = ms.simulate(sc)
    assert res.duration_s > 5  # the drain ran far past the horizon's million bins
    assert len(res.timeline) <= 1_000_000
    bin_s = float(res.timeline.time_s.iloc[1])
    assert bin_s * len(res.timeline) >= res.duration_s


def test_the_last_timeline_bin_is_a_mean_over_the_time_it_covers():
    """The run rarely ends on a bin edge: its last bin must not read as a drop in throughput."""
    res = ms.simulate(_scenario(**{"horizon_s": 100, "workload.0.arrival.rate_per_s": 5,
                                   "engine.timeline_bin_s": 30.0}))
    tl = res.timeline
    width = np.diff(np.append(tl.time_s.to_numpy(), res.duration_s))
    assert width[-1] < 30.0  # 100 s of arrivals and a short drain: the last bin is partial
    out = float((tl.output_tok_s * width).sum())
    assert out == pytest.approx(float(res.replicas.output_tokens.sum()), rel=1e-9)
    assert tl.stepping_frac.iloc[-1] > 0.5 * tl.stepping_frac.iloc[:-1].mean()


def test_a_run_that_drains_before_max_drain_s_ends_with_its_last_event():
    """A drain limit that is never reached must not stretch the run: before the fix the duration
    was horizon + max_drain_s, and every rate in the summary was diluted by the idle tail."""
    sc = small_scenario(**{"engine.max_drain_s": 600.0})
    free = ms.simulate(small_scenario())
    capped = ms.simulate(sc)
    assert capped.duration_s == free.duration_s < sc.horizon_s + 60
    pd.testing.assert_frame_equal(capped.summary, free.summary)
