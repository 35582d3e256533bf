"""Sustained-efficiency factors of a chip: what fraction of its peaks real kernels reach.

These are calibration *data* (catalog/calibration/<chip>.yaml), fitted to measurements where they
exist (`maiasim calibrate`) and taken from vendor-measured figures where they do not. Each factor
may carry a (low, high) range; uncertainty runs sample inside those ranges.
"""

from __future__ import annotations

import math
from typing import Literal

import annotated_types as at
import numpy as np
from pydantic import Field, model_validator

from .hardware import Float, Number, Spec

Range = tuple[Number, Number]

#: Limits of the calibration's times (seconds), token counts and byte counts. A fixed cost above a
#: second per step, kernel, layer or rank is a unit mistake (milliseconds given as seconds).
MAX_TIME_S = 1.0
MAX_TOKENS = float(1 << 24)
MAX_BYTES = 1e15

#: Factors that may be given a range for uncertainty sampling.
SAMPLED_FACTORS = (
    "gemm_peak_fraction",
    "gemm_half_tokens",
    "hbm_fraction",
    "attention_prefill_fraction",
    "attention_decode_hbm_fraction",
    "allreduce_fraction",
    "alltoall_fraction",
    "iteration_overhead_s",
    "per_sequence_overhead_s",
    "collective_overhead_s",
    "gemm_latency_s",
    "layer_launch_s",
    "collective_rank_latency_s",
    "per_token_overhead_s",
)

#: Sampled log-uniformly (their ranges span decades).
LOG_SAMPLED = frozenset({"gemm_half_tokens", "iteration_overhead_s", "per_sequence_overhead_s",
                         "collective_overhead_s", "gemm_latency_s", "layer_launch_s",
                         "collective_rank_latency_s", "per_token_overhead_s"})


def _range_bounds(name: str) -> tuple[float, bool, float, bool]:
    """(low, low inclusive, high, high inclusive) a sampled factor may take (its field's bounds;
    the GEMM plateau is a fraction in (0, 1])."""
    if name == "gemm_peak_fraction":
        return 0.0, False, 1.0, True
    lo, lo_in, hi, hi_in = float("-inf"), True, float("inf"), True
    for m in Calibration.model_fields[name].metadata:
        if isinstance(m, at.Ge):
            lo, lo_in = float(m.ge), True
        elif isinstance(m, at.Gt):
            lo, lo_in = float(m.gt), False
        elif isinstance(m, at.Le):
            hi, hi_in = float(m.le), True
        elif isinstance(m, at.Lt):
            hi, hi_in = float(m.lt), False
    return lo, lo_in, hi, hi_in


def _check_range(name: str, lo: float, hi: float) -> None:
    """A range must stay where the factor itself may be: sampling outside gives nonsense draws
    (negative times, fractions above 1)."""
    a, a_in, b, b_in = _range_bounds(name)
    for x in (lo, hi):
        if (x < a or (x == a and not a_in)) or (x > b or (x == b and not b_in)):
            allowed = f"{'[' if a_in else '('}{a:g}, {b:g}{']' if b_in else ')'}"
            raise ValueError(f"ranges.{name}: {x:g} is outside the factor's allowed values "
                             f"{allowed}")


class Calibration(Spec):
    """Achievable fractions of peak, per chip. Defaults are deliberately middle-of-the-road.

    Every figure is finite; times are at most :data:`MAX_TIME_S`, and each ``ranges`` entry lies
    within the bounds of its factor."""

    chip: str = ""
    #: Large-GEMM plateau as a fraction of dense peak, by precision ("default" for the rest).
    gemm_peak_fraction: dict[str, Number] = {"default": 0.7}
    #: GEMM rows (tokens) at which efficiency is half the plateau:
    #: eff(m) = plateau * m / (m + half). At most 16,777,216 (2^24) tokens.
    gemm_half_tokens: Float = Field(default=64.0, ge=0, le=MAX_TOKENS)
    #: Fraction of HBM bandwidth reached by weight streaming.
    hbm_fraction: Float = Field(default=0.8, gt=0, le=1.0)
    #: Fraction of HBM bandwidth reached by element-wise kernels (norms, residual adds,
    #: activations). ``None``: the same as ``hbm_fraction``.
    elementwise_fraction: Float | None = Field(default=None, gt=0, le=1.0)
    #: Fixed time per element-wise kernel (launch, tail); a layer runs five of them. Kernel-level
    #: harnesses that time each op through the framework see tens of microseconds; fused or
    #: graph-replayed steps hide it (0).
    #: At most 1 s: more is a unit mistake (milliseconds given as seconds).
    elementwise_latency_s: Float = Field(default=0.0, ge=0, le=MAX_TIME_S)
    #: Flash-attention prefill throughput as a fraction of dense peak.
    attention_prefill_fraction: Float = Field(default=0.5, gt=0, le=1.0)
    #: Fraction of HBM bandwidth reached when decode attention reads the KV cache.
    attention_decode_hbm_fraction: Float = Field(default=0.6, gt=0, le=1.0)
    #: All-reduce bus bandwidth as a fraction of the per-direction link bandwidth (NVLS can
    #: exceed 1).
    allreduce_fraction: Float = Field(default=0.8, gt=0, le=1.5)
    alltoall_fraction: Float = Field(default=0.5, gt=0, le=1.5)
    #: Extra latency per collective call (kernel launch, synchronisation), on top of link
    #: latency. At most 1 s: more is a unit mistake (milliseconds given as seconds).
    collective_overhead_s: Float = Field(default=5e-6, ge=0, le=MAX_TIME_S)
    #: Extra latency per additional rank of a collective: a p-chip all-reduce pays ``(p - 1)`` of
    #: it (all-gather half). Ring steps, and in eager serving stacks the wait at every collective
    #: for the slowest rank's host to reach it. 0 for kernel-level (nccl-tests style)
    #: measurements.
    #: At most 1 s: more is a unit mistake (milliseconds given as seconds).
    collective_rank_latency_s: Float = Field(default=0.0, ge=0, le=MAX_TIME_S)
    #: Collective efficiency by message size: bandwidth efficiency is
    #: ``fraction * m / (m + collective_half_bytes)`` for a message of m bytes per chip (0: flat).
    #: At most 1e15 bytes.
    collective_half_bytes: Float = Field(default=0.0, ge=0, le=MAX_BYTES)
    #: Fixed time per GEMM kernel (launch, tail wave, epilogue): the floor a tiny GEMM cannot
    #: beat.
    #: At most 1 s: more is a unit mistake (milliseconds given as seconds).
    gemm_latency_s: Float = Field(default=0.0, ge=0, le=MAX_TIME_S)
    #: Host time per layer to launch its kernels (eager-mode frameworks). The GPU hides it behind
    #: its own work, so a step's GEMM + communication time is at least ``layers * layer_launch_s``.
    #: 0 for engines that replay CUDA graphs or compile the whole step.
    #: At most 1 s: more is a unit mistake (milliseconds given as seconds).
    layer_launch_s: Float = Field(default=0.0, ge=0, le=MAX_TIME_S)
    #: Host launch time per layer in iterations that carry prompt tokens (prefill builds masks,
    #: positions and block tables the decode path reuses). ``None``: the same as
    #: ``layer_launch_s``.
    #: At most 1 s: more is a unit mistake (milliseconds given as seconds).
    prefill_layer_launch_s: Float | None = Field(default=None, ge=0, le=MAX_TIME_S)
    #: Batch tokens at which tensor-parallel all-reduces switch to a slower regime (0: never).
    #: Seen in the Splitwise (2023) DGX-A100/H100 prefill times, growing with TP; the cause is not
    #: published.
    #: At most 16,777,216 (2^24) tokens.
    allreduce_knee_tokens: Float = Field(default=0.0, ge=0, le=MAX_TOKENS)
    #: In the slow regime a step's all-reduces cost ``1 + allreduce_knee_slowdown`` times as much
    #: (0: none). At most 100.
    allreduce_knee_slowdown: Float = Field(default=0.0, ge=0, le=100.0)
    #: Width of the switch in log tokens: the multiplier is
    #: ``1 + slowdown * sigmoid(ln(T / knee) / width)``. At most 100.
    allreduce_knee_width: Float = Field(default=0.1, gt=0, le=100.0)
    #: Fixed cost per engine iteration (scheduler, kernel launches, sampling).
    #: At most 1 s: more is a unit mistake (milliseconds given as seconds).
    iteration_overhead_s: Float = Field(default=2e-3, ge=0, le=MAX_TIME_S)
    #: Extra cost per sequence in the batch per iteration (input preparation, sampling).
    #: At most 1 s: more is a unit mistake (milliseconds given as seconds).
    per_sequence_overhead_s: Float = Field(default=0.0, ge=0, le=MAX_TIME_S)
    #: Host cost per batch token per iteration, not overlapped with the GPU (eager stacks build
    #: token ids, positions and KV-cache slot mappings token by token before launching the step).
    #: At most 1 s: more is a unit mistake (milliseconds given as seconds).
    per_token_overhead_s: Float = Field(default=0.0, ge=0, le=MAX_TIME_S)
    ranges: dict[str, Range] = {}
    fitted_on: str = ""
    basis: Literal["measured", "vendor", "generic"] | None = Field(default=None, description=(
        "What the factors rest on, as a whole: `measured` (fitted to, or read from, independent "
        "measurements), `vendor` (the chip maker's own figures) or `generic` (middle-of-the-road "
        "defaults). Unset: `measured` when `fitted_on` names data, else `generic`. Informational "
        "(shown by `maiasim catalog chips`); no factor depends on it."))
    sources: dict[str, str] = {}

    @model_validator(mode="after")
    def _check(self) -> Calibration:
        for name, (lo, hi) in self.ranges.items():
            if name not in SAMPLED_FACTORS:
                raise ValueError(f"ranges.{name}: not a sampled factor "
                                 f"(allowed: {', '.join(SAMPLED_FACTORS)})")
            if not lo <= hi:
                raise ValueError(f"ranges.{name}: low {lo} > high {hi}")
            _check_range(name, lo, hi)
        for p, f in self.gemm_peak_fraction.items():
            if not 0 < f <= 1:
                raise ValueError(f"gemm_peak_fraction.{p}={f} must be in (0, 1]")
        return self

    def collective_efficiency(self, fraction: float, message_bytes):
        """Achieved share of link bandwidth for a collective moving ``message_bytes`` per chip."""
        if self.collective_half_bytes <= 0:
            return fraction
        m = np.asarray(message_bytes, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            eff = fraction * m / (m + self.collective_half_bytes)
        return np.maximum(eff, 1e-12)

    @property
    def elementwise_hbm_fraction(self) -> float:
        """HBM fraction of element-wise kernels."""
        return self.hbm_fraction if self.elementwise_fraction is None else self.elementwise_fraction

    @property
    def prefill_launch_s(self) -> float:
        """Host launch time per layer of an iteration with prompt tokens."""
        return (self.layer_launch_s if self.prefill_layer_launch_s is None
                else self.prefill_layer_launch_s)

    def allreduce_knee(self, tokens):
        """Cost multiplier of a step's tensor-parallel all-reduces at ``tokens`` batch tokens."""
        T = np.asarray(tokens, dtype=float)
        if self.allreduce_knee_slowdown <= 0 or self.allreduce_knee_tokens <= 0:
            return np.ones_like(T)
        with np.errstate(divide="ignore", over="ignore"):
            x = (np.log(np.maximum(T, 1e-300) / self.allreduce_knee_tokens)
                 / self.allreduce_knee_width)
            slow = 1.0 / (1.0 + np.exp(-np.clip(x, -700.0, 700.0)))
        return 1.0 + self.allreduce_knee_slowdown * np.where(T > 0, slow, 0.0)

    def gemm_fraction(self, precision: str) -> float:
        """Large-GEMM plateau at ``precision``: its own entry, else "default", else the lowest."""
        g = self.gemm_peak_fraction
        return g.get(precision, g.get("default", min(g.values())))

    def sample(self, rng) -> Calibration:
        """One draw: each ranged factor uniform in its range (gemm plateau scales every precision).

        Factors whose ranges span decades (times, token counts: :data:`LOG_SAMPLED`) are drawn
        log-uniformly when the range is positive, so the geometric middle of the range is the
        median."""
        changes: dict = {}
        for name, (lo, hi) in sorted(self.ranges.items()):
            if name in LOG_SAMPLED and lo > 0:
                v = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
            else:
                v = float(rng.uniform(lo, hi))
            if name == "gemm_peak_fraction":
                base = (self.gemm_fraction("default") if "default" in self.gemm_peak_fraction
                        else max(self.gemm_peak_fraction.values()))
                changes[name] = {k: min(1.0, f * v / base)
                                 for k, f in self.gemm_peak_fraction.items()}
            else:
                changes[name] = v
        return self.model_copy(update=changes)
