"""The replicas frame, and the hardware facts every frame needs about a replica.

:class:`ReplicaHardware` is read once from the resolved chip, step model and memory plan, so the
frame builders never resolve the chip or reach into the physics themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..engine.records import ReplicaLog, RequestLog
from .economics import energy_j
from .saturation import saturation


@dataclass(frozen=True)
class ReplicaHardware:
    """What the frames need to turn a replica's counts into utilisations, KV shares and energy.

    ``peak_flops`` and ``hbm_bytes_per_s`` are per chip; ``chips`` is chips per replica."""

    replicas: int
    chips: int
    peak_flops: float  # dense peak at the GEMM precision, per chip
    hbm_bytes_per_s: float
    kv_capacity_tokens: int
    power_w: float
    idle_power_fraction: float

    @classmethod
    def of(cls, chip, gemm_precision: str, memory_plan, replicas: int,
           chips: int) -> ReplicaHardware:
        """From the resolved chip, the precision its GEMMs run at, the replica's memory plan, and
        the fleet's replica count and chips per replica."""
        return cls(replicas, chips, chip.peak_flops(gemm_precision),
                   chip.hbm_bandwidth_bytes_per_s, memory_plan.kv_capacity_tokens, chip.power_w,
                   chip.idle_power_fraction)

    def energy_j(self, duration_s, busy_s):
        """Energy of one replica's chips over ``duration_s`` with ``busy_s`` of it busy (or, with
        arrays or sums, of several replicas)."""
        return energy_j(self.chips, self.power_w, self.idle_power_fraction, duration_s, busy_s)


def replicas_frame(rp: ReplicaLog, hw: ReplicaHardware, duration_s: float, req: RequestLog,
                   horizon_s: float, kv_token_s: np.ndarray | None = None) -> pd.DataFrame:
    """One row per replica: stepping time, MFU, MBU, KV capacity, mean and peak KV use, tokens,
    steps, energy, and whether its queue grew without bound (:mod:`.saturation`).

    Utilisations are time-weighted over the whole run (idle time counts as zero), so they sit
    beside ``stepping_frac`` without flattering it. ``kv_token_s``: each replica's KV use
    integrated over time (:func:`.timeline.kv_token_seconds`; None: no step log, NaN mean)."""
    saturated, since = saturation(req, len(rp.busy_s), horizon_s)
    per = hw.chips
    dur = max(duration_s, 1e-12)
    peak = hw.peak_flops * per
    bw = hw.hbm_bytes_per_s * per
    cap = hw.kv_capacity_tokens
    return pd.DataFrame({
        "replica": np.arange(len(rp.busy_s)),
        "chips": per,
        "stepping_s": rp.busy_s,
        "stepping_frac": rp.busy_s / dur,
        "mfu": rp.flops / (peak * dur),
        "mbu": rp.hbm_bytes / (bw * dur),
        "kv_capacity_tokens": cap,
        "kv_mean_frac": (kv_token_s / (cap * dur) if kv_token_s is not None
                         else np.full(len(rp.busy_s), np.nan)),
        "kv_peak_frac": rp.kv_peak_tokens / cap,
        "output_tokens": rp.out_tokens,
        "prefill_tokens": rp.prefill_tokens,
        "steps": rp.steps,
        "jumps": rp.jumps,
        "preemptions": rp.preemptions,
        "energy_j": hw.energy_j(dur, rp.busy_s),
        "saturated": saturated,
        "saturated_since_s": since,
    })
