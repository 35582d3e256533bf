"""Sustained-efficiency factors of a chip: what fraction of its peaks real kernels reach.

These are calibration *data* (catalog/calibration/<chip>.yaml), fitted to measurements where they
exist (`maiasim calibrate`) and taken from vendor-measured figures where they do not. Each factor may
carry a (low, high) range; uncertainty runs sample inside those ranges.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

Range = tuple[float, float]

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
LOG_SAMPLED = frozenset({"gemm_half_tokens", "iteration_overhead_s", "per_sequence_overhead_s", "collective_overhead_s",
                         "gemm_latency_s", "layer_launch_s", "collective_rank_latency_s", "per_token_overhead_s"})


class Calibration(BaseModel):
    """Achievable fractions of peak, per chip. Defaults are deliberately middle-of-the-road."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    chip: str = ""
    #: Large-GEMM plateau as a fraction of dense peak, by precision ("default" for the rest).
    gemm_peak_fraction: dict[str, float] = {"default": 0.7}
    #: GEMM rows (tokens) at which efficiency is half the plateau: eff(m) = plateau * m / (m + half).
    gemm_half_tokens: float = Field(default=64.0, ge=0)
    #: Fraction of HBM bandwidth reached by weight streaming.
    hbm_fraction: float = Field(default=0.8, gt=0, le=1.0)
    #: Fraction of HBM bandwidth reached by element-wise kernels (norms, residual adds, activations).
    #: ``None``: the same as ``hbm_fraction``.
    elementwise_fraction: float | None = Field(default=None, gt=0, le=1.0)
    #: Fixed time per element-wise kernel (launch, tail); a layer runs five of them. Kernel-level
    #: harnesses that time each op through the framework see tens of microseconds; fused or
    #: graph-replayed steps hide it (0).
    elementwise_latency_s: float = Field(default=0.0, ge=0)
    #: Flash-attention prefill throughput as a fraction of dense peak.
    attention_prefill_fraction: float = Field(default=0.5, gt=0, le=1.0)
    #: Fraction of HBM bandwidth reached when decode attention reads the KV cache.
    attention_decode_hbm_fraction: float = Field(default=0.6, gt=0, le=1.0)
    #: All-reduce bus bandwidth as a fraction of the per-direction link bandwidth (NVLS can exceed 1).
    allreduce_fraction: float = Field(default=0.8, gt=0, le=1.5)
    alltoall_fraction: float = Field(default=0.5, gt=0, le=1.5)
    #: Extra latency per collective call (kernel launch, synchronisation), on top of link latency.
    collective_overhead_s: float = Field(default=5e-6, ge=0)
    #: Extra latency per additional rank of a collective: a p-chip all-reduce pays ``(p - 1)`` of it
    #: (all-gather half). Ring steps, and in eager serving stacks the wait at every collective for the
    #: slowest rank's host to reach it. 0 for kernel-level (nccl-tests style) measurements.
    collective_rank_latency_s: float = Field(default=0.0, ge=0)
    #: Collective efficiency by message size: bandwidth efficiency is
    #: ``fraction * m / (m + collective_half_bytes)`` for a message of m bytes per chip (0: flat).
    collective_half_bytes: float = Field(default=0.0, ge=0)
    #: Fixed time per GEMM kernel (launch, tail wave, epilogue): the floor a tiny GEMM cannot beat.
    gemm_latency_s: float = Field(default=0.0, ge=0)
    #: Host time per layer to launch its kernels (eager-mode frameworks). The GPU hides it behind
    #: its own work, so a step's GEMM + communication time is at least ``layers * layer_launch_s``.
    #: 0 for engines that replay CUDA graphs or compile the whole step.
    layer_launch_s: float = Field(default=0.0, ge=0)
    #: Host launch time per layer in iterations that carry prompt tokens (prefill builds masks,
    #: positions and block tables the decode path reuses). ``None``: the same as ``layer_launch_s``.
    prefill_layer_launch_s: float | None = Field(default=None, ge=0)
    #: Batch tokens at which tensor-parallel all-reduces switch to a slower regime (0: never). Seen in
    #: the Splitwise (2023) DGX-A100/H100 prefill times, growing with TP; the cause is not published.
    allreduce_knee_tokens: float = Field(default=0.0, ge=0)
    #: In the slow regime a step's all-reduces cost ``1 + allreduce_knee_slowdown`` times as much (0: none).
    allreduce_knee_slowdown: float = Field(default=0.0, ge=0)
    #: Width of the switch in log tokens: the multiplier is ``1 + slowdown * sigmoid(ln(T / knee) / width)``.
    allreduce_knee_width: float = Field(default=0.1, gt=0)
    #: Fixed cost per engine iteration (scheduler, kernel launches, sampling).
    iteration_overhead_s: float = Field(default=2e-3, ge=0)
    #: Extra cost per sequence in the batch per iteration (input preparation, sampling).
    per_sequence_overhead_s: float = Field(default=0.0, ge=0)
    #: Host cost per batch token per iteration, not overlapped with the GPU (eager stacks build token
    #: ids, positions and KV-cache slot mappings token by token before launching the step).
    per_token_overhead_s: float = Field(default=0.0, ge=0)
    ranges: dict[str, Range] = {}
    fitted_on: str = ""
    sources: dict[str, str] = {}

    @model_validator(mode="after")
    def _check(self) -> Calibration:
        for name, (lo, hi) in self.ranges.items():
            if name not in SAMPLED_FACTORS:
                raise ValueError(f"ranges.{name}: not a sampled factor (allowed: {', '.join(SAMPLED_FACTORS)})")
            if not lo <= hi:
                raise ValueError(f"ranges.{name}: low {lo} > high {hi}")
        for p, f in self.gemm_peak_fraction.items():
            if not 0 < f <= 1:
                raise ValueError(f"gemm_peak_fraction.{p}={f} must be in (0, 1]")
        return self

    def collective_efficiency(self, fraction: float, message_bytes):
        """Achieved fraction of link bandwidth for a collective moving ``message_bytes`` per chip."""
        if self.collective_half_bytes <= 0:
            return fraction
        import numpy as np

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
        return self.layer_launch_s if self.prefill_layer_launch_s is None else self.prefill_layer_launch_s

    def allreduce_knee(self, tokens):
        """Cost multiplier of a step's tensor-parallel all-reduces at ``tokens`` batch tokens."""
        import numpy as np

        T = np.asarray(tokens, dtype=float)
        if self.allreduce_knee_slowdown <= 0 or self.allreduce_knee_tokens <= 0:
            return np.ones_like(T)
        with np.errstate(divide="ignore", over="ignore"):
            x = np.log(np.maximum(T, 1e-300) / self.allreduce_knee_tokens) / self.allreduce_knee_width
            slow = 1.0 / (1.0 + np.exp(-np.clip(x, -700.0, 700.0)))
        return 1.0 + self.allreduce_knee_slowdown * np.where(T > 0, slow, 0.0)

    def gemm_fraction(self, precision: str) -> float:
        g = self.gemm_peak_fraction
        return g.get(precision, g.get("default", min(g.values())))

    def sample(self, rng) -> Calibration:
        """One draw: each ranged factor uniform in its range (gemm plateau scales every precision).

        Factors whose ranges span decades (times, token counts: :data:`LOG_SAMPLED`) are drawn
        log-uniformly when the range is positive, so the geometric middle of the range is the median."""
        import math

        changes: dict = {}
        for name, (lo, hi) in sorted(self.ranges.items()):
            if name in LOG_SAMPLED and lo > 0:
                v = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
            else:
                v = float(rng.uniform(lo, hi))
            if name == "gemm_peak_fraction":
                base = self.gemm_fraction("default") if "default" in self.gemm_peak_fraction else max(self.gemm_peak_fraction.values())
                changes[name] = {k: min(1.0, f * v / base) for k, f in self.gemm_peak_fraction.items()}
            else:
                changes[name] = v
        return self.model_copy(update=changes)
