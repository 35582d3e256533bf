"""Property tests over random fleets (issues 12-14): for any mix of pools, roles, routers,
admission, priorities, prefix sharing, KV offload and failures, every request ends in exactly one
state, completed requests produced exactly their tokens, fast-forward on and off agree, and the
attributed cost sums to the fleet's."""

import copy

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import maiasim as ms


def _pool(name: str, role: str, replicas: int, knobs: dict, price: float) -> dict:
    return {"name": name, "role": role, "hardware": {"chip": "maia200"}, "model": "llama-3.1-8b",
            "deployment": {"tensor_parallel": 1, "replicas": replicas,
                           "scheduler": {"max_num_seqs": knobs["seqs"],
                                         "max_batch_tokens": knobs["mbt"],
                                         "chunked_prefill": knobs["chunked"],
                                         "hbm_utilization": knobs["hbm"]},
                           "kv_offload": {"capacity_gib": knobs["offload"]}},
            "cost": {"chip_hour_usd": price}}


knobs = st.fixed_dictionaries({
    "seqs": st.sampled_from([4, 16, 64]), "mbt": st.sampled_from([512, 2048]),
    "chunked": st.booleans(), "offload": st.sampled_from([0, 1, 8]),
    "hbm": st.sampled_from([0.3, 0.9])})

workload = st.fixed_dictionaries({
    "priority": st.sampled_from([-1, 0, 1]), "slo_class": st.sampled_from(["x", "y"]),
    "arrival": st.one_of(
        st.builds(lambda r: {"type": "poisson", "rate_per_s": r}, st.sampled_from([5, 20, 60])),
        st.builds(lambda c: {"type": "burst", "count": c}, st.sampled_from([20, 100]))),
    "prompt_tokens": st.builds(lambda m: {"type": "lognormal", "median": m, "sigma": 0.8,
                                          "max": 6000}, st.sampled_from([200, 1500])),
    "output_tokens": st.builds(lambda m: {"type": "lognormal", "median": m, "sigma": 0.8,
                                          "max": 1500}, st.sampled_from([20, 200])),
    "prefix": st.sampled_from([None, {"tokens": 512, "groups": 3}]),
})


_LOGN = {"type": "lognormal", "sigma": 0.8, "max": 6000}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(  # found here: a cost-aware routing input read a decoder context that fast-forward
    # does not book inside a jump, so the two modes routed differently
    kind="two_mixed", k={"seqs": 4, "mbt": 512, "chunked": True, "offload": 0, "hbm": 0.3},
    wls=[{"priority": -1, "slo_class": "x", "arrival": {"type": "poisson", "rate_per_s": r},
          "prompt_tokens": {**_LOGN, "median": 200},
          "output_tokens": {**_LOGN, "median": m, "max": 1500}, "prefix": None}
         for r, m in ((5, 20), (20, 200))],
    router="cost_aware", admission="none", drain=False, failures=False, seed=0)
@given(kind=st.sampled_from(["two_mixed", "disaggregated"]), k=knobs,
       wls=st.lists(workload, min_size=1, max_size=2),
       router=st.sampled_from(["least_load", "cost_aware", "spill_over"]),
       admission=st.sampled_from(["none", "slo"]), drain=st.booleans(),
       failures=st.booleans(), seed=st.integers(0, 1000))
def test_random_fleets_conserve_requests_and_agree_with_fast_forward(
        kind, k, wls, router, admission, drain, failures, seed):
    if kind == "two_mixed":
        pools = [_pool("a", "mixed", 1, k, 1.0), _pool("b", "mixed", 2, k, 3.0)]
    else:
        pools = [_pool("p", "prefill", 1, k, 2.0), _pool("d", "decode", 2, k, 2.0)]
    workloads = []
    for i, w in enumerate(wls):
        w = {key: v for key, v in w.items() if v is not None}
        workloads.append({**w, "name": f"w{i}", "slo": {"ttft_p99_s": 1.0}})
    d = {"name": "fz", "seed": seed, "horizon_s": 20, "workload": workloads,
         "fleet": {"pools": pools, "router": router, "admission": admission},
         "engine": {"drain": drain}}
    if failures:
        d["failures"] = {"chip": {"rate_per_hour": 200.0, "repair_s": 3, "reload_s": 1}}
    sc = ms.from_dict(copy.deepcopy(d))
    a = ms.simulate(sc)
    b = ms.simulate(sc.with_overrides({"engine.fast_forward": False}))
    ra, rb = a.requests, b.requests
    s = a.summary.iloc[-1]
    assert s.completed + s.rejected + s.dropped + s.in_flight == s.requests == len(ra)
    if drain:
        assert s.in_flight == 0
    done = ra[ra.status == "completed"]
    assert (done.output_tokens_generated == done.output_tokens).all()
    for c in ("status", "reason", "replica", "pool", "output_tokens_generated"):
        assert ra[c].tolist() == rb[c].tolist(), c
    np.testing.assert_allclose(ra.finish_s.fillna(-1), rb.finish_s.fillna(-1), rtol=1e-9)
    total = a.pools.cost_usd.sum()
    assert abs(ra.cost_usd.sum() - total) <= 1e-9 * max(1.0, total)
