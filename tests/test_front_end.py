"""The serving front end's time (HTTP, tokenisation, detokenisation, hand-off): per request it
adds to TTFT, per output token to every token's delivery; defaults come from the stack."""

import numpy as np
import pytest
from conftest import small_scenario

import maiasim as ms
from maiasim import catalog


def _low_load(**front_end) -> ms.Result:
    over = {"deployment.replicas": 1, "workload.0.arrival.rate_per_s": 0.05, "horizon_s": 200,
            "workload.0.prompt_tokens": {"type": "fixed", "value": 500},
            "workload.0.output_tokens": {"type": "fixed", "value": 50}}
    over.update({f"deployment.front_end.{k}": v for k, v in front_end.items()})
    return ms.simulate(small_scenario(**over))


def test_low_load_ttft_includes_the_front_end():
    bare = _low_load(request_s=0.0, token_s=0.0).requests
    fe = _low_load(request_s=0.05, token_s=0.001).requests
    assert len(bare) > 3 and (bare.status == "completed").all()
    np.testing.assert_allclose(fe.ttft_s - bare.ttft_s, 0.051, rtol=1e-9)
    np.testing.assert_allclose(fe.e2e_s - bare.e2e_s, 0.05 + 50 * 0.001, rtol=1e-9)
    np.testing.assert_allclose(fe.tpot_s - bare.tpot_s, 0.001, rtol=1e-6)


def test_default_front_end_is_the_stacks():
    default = _low_load().requests
    bare = _low_load(request_s=0.0).requests
    want = catalog.stack("vllm").front_end_request_s
    assert want > 0
    np.testing.assert_allclose(default.ttft_s - bare.ttft_s, want, rtol=1e-9)


def test_closed_loop_client_waits_for_the_front_end():
    def run(request_s: float) -> ms.Result:
        return ms.simulate(small_scenario(**{
            "deployment.replicas": 1, "horizon_s": 30, "deployment.front_end.request_s": request_s,
            "workload.0.arrival": {"type": "closed_loop", "concurrency": 1, "count": 40}}))
    slow, fast = run(0.5), run(0.0)
    assert len(slow.requests) < len(fast.requests)
    gaps = slow.requests.arrival_s.diff().dropna().to_numpy()
    e2e = slow.requests.e2e_s.to_numpy()[:-1]
    assert gaps == pytest.approx(e2e, rel=1e-9)  # sent when the client sees the last answer
