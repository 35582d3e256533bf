"""KV offload: a preempted decoding sequence swapped to host memory instead of recomputed
(issue 14)."""

import pandas as pd
import pytest

import maiasim as ms

#: one H200 running Llama-2-70B FP8 with a burst far beyond its KV cache: vLLM preempts
BURST = {
    "name": "swap", "seed": 3, "horizon_s": 1,
    "hardware": {"chip": "h200", "chips": 1}, "model": "llama-2-70b",
    "precision": {"weights": "fp8", "activations": "fp8", "kv_cache": "fp8"},
    "deployment": {"scheduler": {"max_num_seqs": 512}},
    "workload": [{"name": "b", "arrival": {"type": "burst", "count": 600},
                  "prompt_tokens": {"type": "fixed", "value": 512},
                  "output_tokens": {"type": "fixed", "value": 768}}],
}


def _run(gib: float, **over) -> ms.Result:
    d = {**BURST, "deployment": {**BURST["deployment"], "kv_offload": {"capacity_gib": gib}}}
    return ms.simulate(ms.from_dict(d).with_overrides(over))


def test_off_by_default_and_identical_to_no_offload():
    base = ms.simulate(ms.from_dict(BURST))
    pd.testing.assert_frame_equal(base.requests, _run(0).requests)
    assert base.replicas.kv_swaps.sum() == 0 and base.replicas.preemptions.sum() > 0


def test_swapping_replaces_recomputation_and_conserves_tokens():
    rec, swap = ms.simulate(ms.from_dict(BURST)), _run(64)
    r = swap.replicas.iloc[0]
    assert r.kv_swaps > 0 and r.kv_swaps <= r.preemptions
    done = swap.requests[swap.requests.status == "completed"]
    assert len(done) == 600 and (done.output_tokens_generated == done.output_tokens).all()
    # swapped sequences are not prefilled again: less prompt work than with recomputation
    assert r.prefill_tokens < rec.replicas.iloc[0].prefill_tokens


def test_a_slower_host_link_makes_the_swaps_cost_more():
    fast = _run(64, **{"deployment.kv_offload.bandwidth_bytes_per_s": 63e9})
    slow = _run(64, **{"deployment.kv_offload.bandwidth_bytes_per_s": 1e9})
    assert slow.replicas.kv_swaps.iloc[0] == fast.replicas.kv_swaps.iloc[0]
    assert slow.replicas.stepping_s.iloc[0] > fast.replicas.stepping_s.iloc[0]
    assert slow.duration_s > fast.duration_s


def test_a_full_host_tier_falls_back_to_recomputation():
    small, big = _run(1), _run(64)
    assert 0 < small.replicas.kv_swaps.iloc[0] < big.replicas.kv_swaps.iloc[0]


@pytest.mark.parametrize("ff", [True, False])
def test_fast_forward_is_exact_with_swaps(ff):
    a = _run(64, **{"engine.fast_forward": ff}).requests
    b = _run(64, **{"engine.fast_forward": not ff}).requests
    pd.testing.assert_frame_equal(a, b, rtol=1e-9)


def test_a_chip_without_a_host_link_figure_needs_a_bandwidth():
    d = {**BURST, "hardware": {"chip": "tpu-v7", "chips": 1},
         "deployment": {"kv_offload": {"capacity_gib": 8}}}
    with pytest.raises(ms.ScenarioError, match="kv_offload.bandwidth_bytes_per_s"):
        ms.simulate(ms.from_dict(d))
