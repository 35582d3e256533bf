"""Preemption cannot livelock (issue 14): a property test over random KV-overcommitted bursts.

One Maia 200 serves Llama-3.1-8B a burst whose KV demand is up to hundreds of times the cache
(fast: a burst simulates in a fraction of a second). With vLLM's policy (admit on the prompt,
preempt the newest, recompute), two properties hold:

- **Bounded preemptions.** A request is preempted again only after some other request has
  completed: its preemptions are at most 1 + the number of completions while it was in the system.
  A livelock (a preempted sequence readmitted at once and preempted again) breaks this at once.
- **Throughput.** Overcommitting never costs more than a factor :data:`FACTOR` in throughput
  against the no-overcommit schedule (TensorRT-LLM's guaranteed-no-evict, which admits only what
  can finish without eviction and never preempts). Observed over the drawn bursts: vLLM's policy
  is at worst ~3% slower and usually faster (it packs more); the worst case found by hand is
  1.21x (docs/engine.md, "Preemption by recompute").
"""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import maiasim as ms
from maiasim.build import build

#: the most throughput overcommitting may lose against the no-overcommit schedule
FACTOR = 1.25

BASE = {"name": "overcommit", "seed": 1, "horizon_s": 1, "hardware": {"chip": "maia200"},
        "model": "llama-3.1-8b", "precision": {"kv_cache": "fp8"}}


def _utilization(kv_tokens: int, max_batch_tokens: int) -> float:
    """``hbm_utilization`` (vLLM semantics) that leaves about ``kv_tokens`` of KV cache."""
    sc = ms.from_dict({**BASE, "deployment": {"replicas": 1, "scheduler": {
        "max_batch_tokens": max_batch_tokens, "max_num_seqs": 1024}},
        "workload": [{"name": "w", "arrival": {"type": "burst", "count": 1},
                      "prompt_tokens": {"type": "fixed", "value": 1},
                      "output_tokens": {"type": "fixed", "value": 1}}]})
    m = build(sc).memory
    return (m.weights_bytes + m.activation_bytes + kv_tokens * m.kv_bytes_per_token) / \
        m.device_bytes


@st.composite
def bursts(draw) -> tuple[ms.Scenario, ms.Scenario]:
    n = draw(st.integers(20, 300))
    p, o = draw(st.integers(16, 1024)), draw(st.integers(16, 512))
    sigma = draw(st.sampled_from([0.0, 0.5]))
    longest = (2 * (p + o) if sigma else p + o) + 32  # any one request must fit the cache
    kv = draw(st.integers(longest, max(longest + 1, n * (p + o) // 2)))
    chunked = draw(st.booleans())
    mbt = draw(st.sampled_from([2048, 8192]))
    if not chunked:
        mbt = max(mbt, 2 * (p + o) + 64)  # a recompute must fit one unchunked step

    def lengths(v: int) -> dict:
        return ({"type": "fixed", "value": v} if not sigma
                else {"type": "lognormal", "median": v, "sigma": sigma, "max": 2 * v})

    def scenario(policy: str) -> ms.Scenario:
        return ms.from_dict({**BASE, "deployment": {
            "replicas": 1, "front_end": {"request_s": 0.0},
            "scheduler": {"policy": policy, "hbm_utilization": _utilization(kv, mbt),
                          "chunked_prefill": chunked, "max_batch_tokens": mbt,
                          "max_num_seqs": 1024}},
            "workload": [{"name": "w", "arrival": {"type": "burst", "count": n},
                          "prompt_tokens": lengths(p), "output_tokens": lengths(o)}]})

    return scenario(draw(st.sampled_from(["vllm", "max_utilization"]))), \
        scenario("guaranteed_no_evict")


def _throughput(res: ms.Result) -> float:
    return float(res.requests.output_tokens_generated.sum()) / res.duration_s


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(bursts())
def test_overcommitted_bursts_do_not_livelock(pair):
    over_sc, safe_sc = pair
    over, safe = ms.simulate(over_sc), ms.simulate(safe_sc)
    req = over.requests
    assert (req.status == "completed").all(), req.reason.value_counts()
    assert (safe.requests.status == "completed").all()
    # bounded: preempted again only after another request completed
    ends = np.sort(req.finish_s.to_numpy())
    completions_during = (np.searchsorted(ends, req.finish_s.to_numpy(), side="left")
                          - np.searchsorted(ends, req.arrival_s.to_numpy(), side="right"))
    assert (req.preemptions.to_numpy() <= 1 + completions_during).all()
    assert safe.requests.preemptions.sum() == 0
    # throughput: never worse than the no-overcommit schedule by more than FACTOR
    assert _throughput(over) * FACTOR >= _throughput(safe)
