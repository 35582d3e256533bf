"""Roofline arithmetic that must hold exactly, and the memory plan."""

import pytest

from maiasim import catalog
from maiasim.errors import DoesNotFit
from maiasim.physics import Parallelism, Precisions, StepModel, plan_memory
from maiasim.spec.calibration import Calibration
from maiasim.spec.hardware import BYTES_PER_ELEMENT


def _model(chip="maia200", model="llama-3.1-70b", tp=1, prec=("fp8", "fp8", "fp8"), **cal):
    c = Calibration(**cal)
    return StepModel(catalog.chip(chip), catalog.model(model), Precisions(*prec), Parallelism(tp),
                     c, max_tokens=512)


def test_decode_step_of_dense_model_is_weights_over_bandwidth():
    """Batch-1 decode on one chip with no overhead: time = weight bytes / (bandwidth x
    hbm_fraction)."""
    for chip, model, prec in (("maia200", "llama-3.1-70b", "fp8"), ("h100", "llama-3.1-8b", "bf16"),
                              ("b200", "qwen3-32b", "fp8")):
        m = _model(chip, model, prec=(prec, prec, prec), iteration_overhead_s=0.0, hbm_fraction=0.8)
        spec, hw = catalog.model(model), catalog.chip(chip)
        # input embedding is gathered, not streamed
        weights = (spec.params - spec.vocab_size * spec.hidden_size) * BYTES_PER_ELEMENT[prec]
        expected = weights / (hw.hbm_bandwidth_bytes_per_s * 0.8)
        t = m.step_time(1, 1, 1, 1)
        assert t == pytest.approx(expected, rel=0.02), (chip, model)
        assert t >= expected * 0.999  # never faster than the weights can stream


def test_prefill_is_compute_bound_and_scales_with_tokens():
    m = _model(iteration_overhead_s=0.0)
    t256 = m.step_time(256, 1, 0, 0, m.prefill_attention(256, 0)[0])
    t512 = m.step_time(512, 1, 0, 0, m.prefill_attention(512, 0)[0])
    assert 1.6 < t512 / t256 < 2.2


def test_decode_affine_matches_step_time():
    m = _model(tp=4)
    a, b = m.decode_affine(32)
    assert m.step_time(32, 32, 32, 50_000) == pytest.approx(a + b * 50_000, rel=1e-12)


def test_breakdown_agrees_with_step_time():
    m = _model(tp=4)
    b = m.breakdown([(300, 1000)], [2000] * 16)
    pre = m.prefill_attention(300, 1000)[0]
    assert b.total_s == pytest.approx(m.step_time(316, 17, 16, 32000, pre), rel=1e-12)
    assert b.total_s == pytest.approx(sum(b.ops.values()) + b.overhead_s, rel=1e-9)
    assert b.comm_s > 0 and b.flops > 0


def test_tensor_parallel_pays_allreduce_and_splits_weights():
    one = _model(tp=1, iteration_overhead_s=0.0)
    four = _model(tp=4, iteration_overhead_s=0.0)
    assert four.breakdown([], [1000]).comm_s > 0 == one.breakdown([], [1000]).comm_s
    assert four.step_time(1, 1, 1, 1000) < one.step_time(1, 1, 1, 1000) / 2.5


def test_moe_reads_only_touched_experts():
    m = _model("maia200", "mixtral-8x7b", iteration_overhead_s=0.0)
    # one token touches 2 of 8 experts; 512 tokens touch all 8: expert traffic grows ~4x, not 512x
    t1 = m.breakdown([], [100]).ops["moe_experts"]
    t_many = m.breakdown([], [100] * 200).ops["moe_experts"]
    assert 2.5 < t_many / t1 < 5.0


def test_memory_plan_fits_and_fails_clearly():
    chip, model = catalog.chip("maia200"), catalog.model("llama-3.1-70b")
    plan = plan_memory(chip, model, Precisions(), Parallelism(4), max_batch_tokens=8192,
                       max_num_seqs=256)
    assert plan.weights_bytes == pytest.approx(model.params / 4)
    assert plan.kv_capacity_tokens > 1_000_000
    with pytest.raises(DoesNotFit, match="short by"):
        plan_memory(catalog.chip("h100"), catalog.model("llama-3.1-405b"),
                    Precisions("bf16", "bf16", "bf16"),
                    Parallelism(4), max_batch_tokens=8192, max_num_seqs=256)


def test_parameter_counts_match_published_sizes():
    expect = {"llama-3.1-70b": 70.6e9, "llama-3.1-8b": 8.03e9, "llama-3.1-405b": 405.8e9,
              "mixtral-8x7b": 46.7e9, "deepseek-v3": 671e9, "gpt-oss-120b": 116.8e9,
              "qwen3-32b": 32.8e9, "llama-2-7b": 6.74e9}
    for name, n in expect.items():
        assert catalog.model(name).params == pytest.approx(n, rel=0.01), name
    assert catalog.model("deepseek-v3").active_params == pytest.approx(37.5e9, rel=0.03)
