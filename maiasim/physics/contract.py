"""What the engine needs of physics: the step-cost seam.

The engine never computes a time itself; it asks a :class:`StepCostModel`. :class:`StepModel`
(the tabulated roofline) is the one implementation today; a measured lookup table or a learned
model would be another, and the engine would not change.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class StepCostModel(Protocol):
    """The cost of one engine iteration of one replica.

    **Contract** (fast-forward depends on it): for a decode-only batch of ``n`` sequences whose
    contexts sum to ``C``, ``step_time(n, n, n, C)`` equals ``a + b * C`` with
    ``(a, b) = decode_affine(n)``, exactly (to rounding). The engine then jumps over ``k`` steps in
    closed form, ``k * a + b * (k * C + n * k * (k - 1) / 2)``, instead of simulating each one;
    a model that breaks the contract makes fast-forward disagree with stepping.
    """

    #: FLOPs and HBM bytes per decode context token (whole replica), for MFU and MBU
    decode_flops_per_ctx: float
    decode_bytes_per_ctx: float

    def step_time(self, tokens: int, n_out: int, n_decode: int, decode_ctx: float,
                  prefill_s: float = 0.0) -> float:
        """Seconds of one iteration: ``tokens`` batch tokens of which ``n_decode`` decode with
        ``decode_ctx`` total context, ``n_out`` sequences sample a token, plus ``prefill_s`` of
        prefill attention (from :meth:`prefill_attention`)."""
        ...

    def prefill_attention(self, chunk: int, prior: int) -> tuple[float, float, float]:
        """(seconds, FLOPs, bytes) of the attention of a ``chunk`` of prompt tokens after
        ``prior`` tokens of the same prompt."""
        ...

    def decode_affine(self, n: int) -> tuple[float, float]:
        """``(a, b)``: a decode-only step of ``n`` sequences takes ``a + b * total_context``."""
        ...

    def step_work(self, tokens: int, n_out: int, n_decode: int,
                  decode_ctx: float) -> tuple[float, float]:
        """(FLOPs, HBM bytes) of an iteration's linear and decode-attention parts."""
        ...
