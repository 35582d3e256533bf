"""Collectives carry their own number format (``precision.communication``, default BF16)."""

import pytest
from conftest import small_scenario

from maiasim.build import build
from maiasim.physics import Precisions
from maiasim.physics.network import allreduce_time


def _comm(tokens: int, **precision) -> tuple[float, object]:
    sc = small_scenario(**{f"precision.{k}": v for k, v in precision.items()})
    b = build(sc)
    return b.step.breakdown(prefill_chunks=[(tokens, 0)]).comm_s, b


def test_fp8_activations_reduce_in_bf16_by_default():
    assert Precisions("fp8", "fp8", "fp8").comm_bytes == 2.0
    assert Precisions("fp8", "fp8", "fp8", "fp8").comm_bytes == 1.0
    comm, b = _comm(2048, activations="fp8")
    assert b.precisions.communication == "bf16"
    m, c = b.model, b.calibration
    per_ar = allreduce_time(b.chip, c, 4, 2048 * m.hidden_size * 2.0) * c.allreduce_knee(2048)
    assert comm == pytest.approx(2 * m.layers * per_ar)  # 2 bytes per value on the wire


def test_fp8_communication_is_cheaper_when_asked_for():
    bf16, _ = _comm(2048, activations="fp8")
    fp8, b = _comm(2048, activations="fp8", communication="fp8")
    assert b.precisions.comm_bytes == 1.0 and fp8 < bf16
