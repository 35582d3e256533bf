"""Speculative decoding (issue 14): a proposer drafts k tokens, the target verifies them in one
step, and a step emits (1 - a^(k+1)) / (1 - a) tokens per sequence on average."""

import pytest
from test_engine import _assert_same, _pair

import maiasim as ms
from maiasim.build import build
from maiasim.errors import ScenarioError

DRAFT = {"method": "draft", "draft_model": "llama-3.1-8b", "num_speculative_tokens": 3,
         "acceptance_rate": 0.8}


def _scenario(spec=None, concurrency=2, **over) -> ms.Scenario:
    sc = ms.from_dict({
        "name": "s", "seed": 5, "horizon_s": 120, "hardware": {"chip": "h200"},
        "model": "llama-3.1-70b", "deployment": {"replicas": 1, "tensor_parallel": 4},
        "workload": [{"name": "w",
                      "arrival": {"type": "closed_loop", "concurrency": concurrency, "count": 24},
                      "prompt_tokens": {"type": "fixed", "value": 400},
                      "output_tokens": {"type": "uniform", "low": 100, "high": 400}}]})
    over = dict(over, **{"deployment.speculative": spec})
    return sc.with_overrides(over)


def _tput(sc) -> float:
    return float(ms.simulate(sc).summary.output_tok_s[0])


@pytest.mark.parametrize("method", ["draft", "mtp"])
def test_nothing_accepted_costs_more_than_no_speculation(method):
    spec = dict(DRAFT, acceptance_rate=0.0)
    if method == "mtp":
        spec = {"method": "mtp", "num_speculative_tokens": 2, "acceptance_rate": 0.0}
    plain, spec_res = ms.simulate(_scenario()), ms.simulate(_scenario(spec))
    assert spec_res.summary.output_tok_s[0] < plain.summary.output_tok_s[0]
    assert spec_res.summary.tpot_p50_s[0] > plain.summary.tpot_p50_s[0]
    assert spec_res.replicas.tokens_per_step[0] == 1.0


@pytest.mark.parametrize("method", ["draft", "mtp"])
def test_good_acceptance_raises_throughput_at_low_batch(method):
    spec = DRAFT if method == "draft" else {"method": "mtp", "num_speculative_tokens": 3,
                                            "acceptance_rate": 0.8}
    res = ms.simulate(_scenario(spec))
    assert res.summary.output_tok_s[0] > 1.2 * _tput(_scenario())
    a, k = 0.8, 3
    assert res.replicas.tokens_per_step[0] == pytest.approx((1 - a ** (k + 1)) / (1 - a))


def test_tokens_are_conserved():
    res = ms.simulate(_scenario(DRAFT, concurrency=8))
    req = res.requests
    done = req[req.status == "completed"]
    assert len(done) == 24 and (done.output_tokens_generated == done.output_tokens).all()
    assert res.replicas.output_tokens.sum() == req.output_tokens_generated.sum()


@pytest.mark.parametrize("spec", [DRAFT, {"method": "mtp", "num_speculative_tokens": 2,
                                          "acceptance_rate": 0.6}])
def test_fast_forward_is_exact_with_speculation(spec):
    sc = _scenario(spec, **{"horizon_s": 30, "workload.0.arrival": {
        "type": "poisson", "rate_per_s": 3}})
    ff, st = _pair(sc)
    _assert_same(ff, st)


def test_drafts_hold_kv_and_the_draft_model_takes_hbm():
    plain, spec = build(_scenario()).memory, build(_scenario(DRAFT)).memory
    assert spec.per_sequence_tokens == plain.per_sequence_tokens + 3
    assert spec.kv_capacity_tokens < 0.8 * plain.kv_capacity_tokens
    mtp = build(_scenario({"method": "mtp", "num_speculative_tokens": 1,
                           "acceptance_rate": 0.5})).memory
    assert spec.kv_capacity_tokens < mtp.kv_capacity_tokens < plain.kv_capacity_tokens


def test_off_by_default_and_bad_settings_are_clear_errors():
    assert _scenario().pool().deployment.speculative is None
    with pytest.raises(ScenarioError, match="draft_model"):
        _scenario({"method": "draft", "num_speculative_tokens": 2, "acceptance_rate": 0.5})
    with pytest.raises(ScenarioError, match="acceptance_rate"):
        _scenario(dict(DRAFT, acceptance_rate=1.0))
    with pytest.raises(ScenarioError, match="not-a-model|unknown|model"):
        _scenario(dict(DRAFT, draft_model="not-a-model"))
