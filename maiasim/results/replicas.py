"""The replicas frame, and the hardware facts every frame needs about a replica.

:class:`ReplicaHardware` is read once from the resolved chip, step model and memory plan, so the
frame builders never resolve the chip or reach into the physics themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..engine.records import ReplicaLog, RequestLog
from ..physics.power import RackPower
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
    rack: RackPower  # the chip's power model, racks and PUE (maiasim.physics.power)

    @classmethod
    def of(cls, chip, gemm_precision: str, memory_plan, replicas: int,
           chips: int, rack: RackPower) -> ReplicaHardware:
        """From the resolved chip, the precision its GEMMs run at, the replica's memory plan, the
        fleet's replica count and chips per replica, and the chip's racks."""
        return cls(replicas, chips, chip.peak_flops(gemm_precision),
                   chip.hbm_bandwidth_bytes_per_s, memory_plan.kv_capacity_tokens, rack)

    @property
    def power_w(self) -> float:
        """A chip's power limit (its TDP, or the rack cap)."""
        return self.rack.cap_w

    @property
    def idle_power_w(self) -> float:
        """A chip's idle draw."""
        return self.rack.idle_w

    def energy_j(self, duration_s, flops, hbm_bytes):
        """Chip energy of replicas over ``duration_s`` that did ``flops`` and moved ``hbm_bytes``
        (each replica's totals; arrays work elementwise): its activity power model."""
        return self.rack.chip_energy_j(self.chips, duration_s, flops, hbm_bytes, self.peak_flops,
                                       self.hbm_bytes_per_s)


def replicas_frame(rp: ReplicaLog, hw: ReplicaHardware, duration_s: float, req: RequestLog,
                   horizon_s: float) -> pd.DataFrame:
    """One row per replica: busy time, MFU, MBU, KV capacity and peak, tokens, steps, energy,
    and whether its queue grew without bound (:mod:`.saturation`)."""
    saturated, since = saturation(req, len(rp.busy_s), horizon_s)
    per = hw.chips
    dur = max(duration_s, 1e-12)
    peak = hw.peak_flops * per
    bw = hw.hbm_bytes_per_s * per
    cap = hw.kv_capacity_tokens
    return pd.DataFrame({
        "replica": np.arange(len(rp.busy_s)),
        "chips": per,
        "busy_s": rp.busy_s,
        "busy_frac": rp.busy_s / dur,
        "mfu": rp.flops / (peak * dur),
        "mbu": rp.hbm_bytes / (bw * dur),
        "kv_capacity_tokens": cap,
        "kv_peak_frac": rp.kv_peak_tokens / cap,
        "tokens": rp.out_tokens,
        "prefill_tokens": rp.prefill_tokens,
        "steps": rp.steps,
        "jumps": rp.jumps,
        "preemptions": rp.preemptions,
        "energy_j": hw.energy_j(dur, rp.flops, rp.hbm_bytes),
        "saturated": saturated,
        "saturated_since_s": since,
    })
