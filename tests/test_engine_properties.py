"""Property tests over random scenarios: the engine's lasting guards (issue 10).

For any scenario — chunked prefill on or off, KV-starved or not, drained or cut at the horizon —
every request ends in exactly one recorded state, a drained run leaves nothing in flight, every
output token was produced by exactly one step, and fast-forward on and off give the same frames:
requests, replicas and timeline.
"""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import maiasim as ms
from maiasim.build import build

BASE = {
    "name": "prop", "hardware": {"chip": "maia200"}, "model": "llama-3.1-8b",
    "workload": [],
}


def _kv_starved_utilization(tokens: int) -> float:
    """``hbm_utilization`` that leaves room for about ``tokens`` KV tokens per replica."""
    sc = ms.from_dict({**BASE, "deployment": {"replicas": 1}, "workload": [_poisson(1.0)]})
    mem = build(sc).memory
    need = mem.weights_bytes + mem.activation_bytes + tokens * mem.kv_bytes_per_token
    return need / sc.chip_spec().hbm_bytes


def _poisson(rate: float, prompt=None, output=None, name: str = "w") -> dict:
    return {"name": name, "arrival": {"type": "poisson", "rate_per_s": rate},
            "prompt_tokens": prompt or {"type": "fixed", "value": 100},
            "output_tokens": output or {"type": "fixed", "value": 10}}


lengths = st.one_of(
    st.builds(lambda v: {"type": "fixed", "value": v}, st.integers(1, 3000)),
    st.builds(lambda m, s: {"type": "lognormal", "median": m, "sigma": s, "max": 6000},
              st.floats(20, 1500), st.floats(0, 1.2)),
)
arrivals = st.one_of(
    st.builds(lambda r: {"type": "poisson", "rate_per_s": r}, st.floats(0.2, 30)),
    st.builds(lambda r, cv: {"type": "gamma", "rate_per_s": r, "cv": cv},
              st.floats(0.2, 20), st.floats(0.3, 4)),
    st.builds(lambda n: {"type": "burst", "count": n}, st.integers(1, 120)),
    st.builds(lambda c, n, t: {"type": "closed_loop", "concurrency": c, "count": n,
                               "think_time_s": t},
              st.integers(1, 32), st.integers(1, 150), st.sampled_from([0.0, 0.3])),
)


@st.composite
def scenarios(draw) -> ms.Scenario:
    n_wl = draw(st.integers(1, 2))
    workloads = [{"name": f"w{i}", "arrival": draw(arrivals), "prompt_tokens": draw(lengths),
                  "output_tokens": draw(lengths)} for i in range(n_wl)]
    sched = {
        "chunked_prefill": draw(st.booleans()),
        "max_batch_tokens": draw(st.sampled_from([512, 2048, 8192])),
        "max_num_seqs": draw(st.sampled_from([1, 8, 64, 256])),
    }
    if draw(st.booleans()):  # KV-starved: preemption and head-of-line blocking
        sched["hbm_utilization"] = _KV_STARVED[draw(st.sampled_from(sorted(_KV_STARVED)))]
    if draw(st.booleans()):
        sched["queue_timeout_s"] = draw(st.sampled_from([0.5, 5.0]))
    engine = draw(st.sampled_from([{"drain": True}, {"drain": False},
                                   {"drain": True, "max_drain_s": 2.0}]))
    return ms.from_dict({
        **BASE, "seed": draw(st.integers(0, 1000)), "horizon_s": draw(st.floats(1, 20)),
        "deployment": {"replicas": draw(st.integers(1, 3)), "scheduler": sched},
        "router": {"policy": draw(st.sampled_from(["round_robin", "least_outstanding",
                                                   "random"]))},
        "workload": workloads, "engine": engine,
    })


_KV_STARVED = {k: _kv_starved_utilization(k) for k in (7_000, 20_000)}


def _check_one_state(res: ms.Result) -> None:
    req, sc = res.requests, res.scenario
    assert req.status.notna().all()
    assert len(req) == res.summary.iloc[-1].requests
    totals = res.summary.iloc[-1]
    assert totals.completed + totals.rejected + totals.dropped + totals.in_flight == len(req)
    done = req[req.status == "completed"]
    assert (done.output_tokens_generated == done.output_tokens).all()
    assert (req.output_tokens_generated <= req.output_tokens).all()
    assert int(res.replicas.output_tokens.sum()) == int(req.output_tokens_generated.sum())
    if sc.engine.drain and sc.engine.max_drain_s is None:
        assert (req.status != "in_flight").all(), req.reason.value_counts()
    failed = req[req.status != "completed"]
    assert (failed.reason != "").all()


def _check_same(a: ms.Result, b: ms.Result) -> None:
    ra, rb = a.requests, b.requests
    assert len(ra) == len(rb)
    for c in ("arrival_s", "admit_s", "first_token_s", "finish_s"):
        np.testing.assert_allclose(ra[c], rb[c], rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=c)
    for c in ("prompt_tokens", "output_tokens", "output_tokens_generated", "replica", "preemptions",
              "status", "reason"):
        assert ra[c].equals(rb[c]), c
    pa, pb = a.replicas, b.replicas
    for c in ("steps", "output_tokens", "prefill_tokens", "preemptions"):
        assert pa[c].tolist() == pb[c].tolist(), c
    for c in ("stepping_s", "mfu", "mbu", "kv_mean_frac", "kv_peak_frac", "energy_j"):
        np.testing.assert_allclose(pa[c], pb[c], rtol=1e-9, atol=1e-12, err_msg=c)
    ta, tb = a.timeline, b.timeline
    assert list(ta.columns) == list(tb.columns) and len(ta) == len(tb)
    for c in ta.columns:
        np.testing.assert_allclose(ta[c], tb[c], rtol=1e-6, atol=1e-6, err_msg=c)


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_random_scenarios_conserve_requests_and_fast_forward_is_exact(sc):
    ff = ms.simulate(sc.with_overrides({"engine.fast_forward": True}))
    step = ms.simulate(sc.with_overrides({"engine.fast_forward": False}))
    _check_one_state(ff)
    _check_one_state(step)
    _check_same(ff, step)
