"""The replicas frame, and the hardware facts every frame needs about a replica.

:class:`ReplicaHardware` is read once from the resolved chip, step model and memory plan, so the
frame builders never resolve the chip or reach into the physics themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..engine.records import ReplicaLog, RequestLog
from ..physics.power import chip_energy_j
from .saturation import saturation


@dataclass(frozen=True)
class ReplicaHardware:
    """What the frames need to turn a replica's counts into utilisations, KV shares and energy:
    one entry per replica of the fleet (pools may differ in chip, model and parallelism).

    ``peak_flops`` and ``hbm_bytes_per_s`` are per chip; ``chips`` is chips per replica."""

    replicas: int
    chips: np.ndarray
    peak_flops: np.ndarray  # dense peak at the GEMM precision, per chip
    hbm_bytes_per_s: np.ndarray
    kv_capacity_tokens: np.ndarray
    tdp_w: np.ndarray
    idle: np.ndarray  # idle draw, fraction of TDP (maiasim.physics.power)
    a_mfu: np.ndarray
    b_mbu: np.ndarray
    power_w: np.ndarray  # each chip's power limit: its TDP, or the rack cap
    beside_w: float  # the fleet's constant host and network power (W)
    tokens_per_step: np.ndarray  # speculative decoding's expected tokens per step (1: none)

    @classmethod
    def of(cls, builds) -> ReplicaHardware:
        """From the resolved pools (:class:`maiasim.build.Build`, in fleet order): each pool's
        chip, the precision its GEMMs run at, its memory plan, replica count, chips per replica
        and racks (its power model)."""
        def each(f):
            return np.concatenate([np.full(b.pool.replicas, f(b), dtype=float) for b in builds])
        beside = sum(b.rack.host_energy_j(b.pool.chips, 1.0)
                     + b.rack.network_energy_j(b.pool.chips, 1.0) for b in builds)
        return cls(sum(b.pool.replicas for b in builds),
                   each(lambda b: b.parallel.chips).astype(np.int64),
                   each(lambda b: b.chip.peak_flops(b.precisions.gemm)),
                   each(lambda b: b.chip.hbm_bandwidth_bytes_per_s),
                   each(lambda b: b.memory.kv_capacity_tokens).astype(np.int64),
                   each(lambda b: b.rack.tdp_w), each(lambda b: b.rack.idle),
                   each(lambda b: b.rack.a_mfu), each(lambda b: b.rack.b_mbu),
                   each(lambda b: b.rack.cap_w), float(beside),
                   each(_tokens_per_step))

    @property
    def idle_power_w(self) -> np.ndarray:
        """Each replica's chips' idle draw, per chip (W)."""
        return self.idle * self.tdp_w

    def energy_j(self, duration_s, flops, hbm_bytes):
        """Chip energy of each replica over ``duration_s`` from its FLOP and HBM-byte totals: the
        activity power model (:func:`maiasim.physics.power.chip_energy_j`)."""
        return chip_energy_j(self.tdp_w, self.idle, self.a_mfu, self.b_mbu, self.power_w,
                             self.chips, duration_s, flops, hbm_bytes, self.peak_flops,
                             self.hbm_bytes_per_s)


def replicas_frame(rp: ReplicaLog, hw: ReplicaHardware, duration_s: float, req: RequestLog,
                   horizon_s: float, pool: pd.Categorical,
                   kv_token_s: np.ndarray | None = None) -> pd.DataFrame:
    """One row per replica: stepping time, MFU, MBU, KV capacity, mean and peak KV use, tokens,
    steps, energy, and whether its queue grew without bound (:mod:`.saturation`). ``pool``: each
    replica's pool name.

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
        "pool": pool,
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
        "tokens_per_step": hw.tokens_per_step,
        "jumps": rp.jumps,
        "preemptions": rp.preemptions,
        "kv_swaps": rp.kv_swaps,
        "energy_j": hw.energy_j(dur, rp.flops, rp.hbm_bytes),
        "saturated": saturated,
        "saturated_since_s": since,
    })


def _tokens_per_step(b) -> float:
    """A pool's expected tokens per sequence per decode step (speculative decoding)."""
    spec = b.pool.deployment.speculative
    return 1.0 if spec is None else spec.tokens_per_step
