"""Physical sanity across the catalog: no prediction beats the hardware.

For every chip and every model that fits (the smallest tensor-parallel degree in 1..8 whose memory
plan works), random batches (hypothesis) must never run faster than the chip's peak compute or peak
HBM bandwidth allow, and batch-1 decode can never beat streaming the weights once from HBM. The
bounds hold for the shipped calibration, for random draws of its ranges, and for an "ideal"
calibration with every efficiency at 1 and no overheads (the pure roofline).
"""

from __future__ import annotations

from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maiasim import catalog
from maiasim.errors import DoesNotFit
from maiasim.physics import Parallelism, Precisions, StepModel, plan_memory
from maiasim.spec.calibration import Calibration
from maiasim.spec.hardware import BYTES_PER_ELEMENT

MAX_TOKENS = 2048
IDEAL = Calibration(chip="ideal", gemm_peak_fraction={"default": 1.0}, gemm_half_tokens=0.0,
                    hbm_fraction=1.0, attention_prefill_fraction=1.0,
                    attention_decode_hbm_fraction=1.0, allreduce_fraction=1.5,
                    alltoall_fraction=1.5, collective_overhead_s=0.0, iteration_overhead_s=0.0)


def _precision(chip) -> str:
    return "fp8" if "fp8" in chip.peak_tflops else "bf16"


@cache
def _tp_that_fits(chip_name: str, model_name: str) -> int | None:
    chip, model = catalog.chip(chip_name), catalog.model(model_name)
    p = _precision(chip)
    for tp in (1, 2, 4, 8):
        try:
            plan_memory(chip, model, Precisions(p, p, p), Parallelism(tp),
                        max_batch_tokens=MAX_TOKENS, max_num_seqs=64)
            return tp
        except DoesNotFit:
            continue
    return None


PAIRS = [(c, m) for c in sorted(catalog.chips()) for m in sorted(catalog.models())
         if _tp_that_fits(c, m)]


@cache
def _step(chip_name: str, model_name: str, which: str, draw: int = 0) -> StepModel:
    chip, model = catalog.chip(chip_name), catalog.model(model_name)
    p = _precision(chip)
    cal = catalog.calibration(chip_name)
    if which == "ideal":
        cal = IDEAL
    elif which == "draw":
        import numpy as np

        cal = cal.sample(np.random.default_rng(draw))
    return StepModel(chip, model, Precisions(p, p, p),
                     Parallelism(_tp_that_fits(chip_name, model_name)), cal,
                     max_tokens=MAX_TOKENS)


def test_every_chip_serves_some_model():
    chips = {c for c, _ in PAIRS}
    assert chips == set(catalog.chips())
    assert len(PAIRS) >= 60


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pair=st.sampled_from(PAIRS),
    which=st.sampled_from(["shipped", "ideal", "draw"]),
    draw=st.integers(0, 3),
    chunks=st.lists(st.tuples(st.integers(1, 1024), st.integers(0, 8192)), max_size=2),
    decodes=st.lists(st.integers(1, 32768), max_size=48),
)
def test_no_step_beats_peak_compute_or_bandwidth(pair, which, draw, chunks, decodes):
    chip_name, model_name = pair
    s = _step(chip_name, model_name, which, draw if which == "draw" else 0)
    if (sum(c for c, _ in chunks) + len(decodes) == 0
            or sum(c for c, _ in chunks) + len(decodes) > MAX_TOKENS):
        return
    b = s.breakdown(chunks, decodes)
    chip, tp = catalog.chip(chip_name), s.parallel.chips
    peak = max(s.peak_gemm, s.peak_attn) * tp
    assert b.total_s > 0
    assert b.flops <= peak * b.total_s * (1 + 1e-9), (pair, which, b.flops / b.total_s / peak)
    assert b.hbm_bytes <= chip.hbm_bandwidth_bytes_per_s * tp * b.total_s * (1 + 1e-9), pair
    # the step the engine uses is the same number
    ctx = float(sum(decodes))
    pre = sum(s.prefill_attention(c, p)[0] for c, p in chunks)
    T = sum(c for c, _ in chunks) + len(decodes)
    assert s.step_time(T, len(decodes) + len(chunks), len(decodes), ctx, pre) == pytest.approx(
        b.total_s, rel=1e-9)


@pytest.mark.parametrize("pair", PAIRS, ids=[f"{c}-{m}" for c, m in PAIRS])
def test_batch1_decode_never_beats_streaming_the_weights(pair):
    chip_name, model_name = pair
    chip, model = catalog.chip(chip_name), catalog.model(model_name)
    wb = BYTES_PER_ELEMENT[_precision(chip)]
    # weights one decode token must read: active parameters (MoE: the routed experts only), less the
    # input embedding table when untied (a gather of one row, not a stream)
    streamed = model.active_params - (0 if model.tied_embeddings
                                      else model.vocab_size * model.hidden_size)
    for which in ("ideal", "shipped"):
        s = _step(chip_name, model_name, which)
        tp = s.parallel.chips
        # seconds per token, all chips streaming at once
        bound = streamed * wb / tp / chip.hbm_bandwidth_bytes_per_s
        for ctx in (1, 4096):
            t = s.step_time(1, 1, 1, ctx)
            assert t >= bound * (1 - 1e-9), (pair, which, t, bound)
        # on one chip the roofline is exactly the bound for a dense model at short context (with TP
        # the collectives' link latency comes on top)
        if which == "ideal" and tp == 1:
            if not model.is_moe:
                assert s.step_time(1, 1, 1, 1) == pytest.approx(bound, rel=0.05), pair


@settings(max_examples=60, deadline=None)
@given(pair=st.sampled_from(PAIRS), n=st.integers(1, 64), ctx=st.integers(1, 16384))
def test_decode_throughput_grows_with_batch_but_stays_under_the_roofline(pair, n, ctx):
    chip_name, model_name = pair
    s, ideal = _step(chip_name, model_name, "shipped"), _step(chip_name, model_name, "ideal")
    one = 1 / s.step_time(1, 1, 1, ctx)
    many = n / s.step_time(n, n, n, n * ctx)
    assert many >= one * (1 - 1e-9)  # batching never lowers tokens/s
    # and never beats the roofline
    assert many <= n / ideal.step_time(n, n, n, n * ctx) * (1 + 1e-9)
