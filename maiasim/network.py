"""Collective communication over a chip's scale-up topology: alpha-beta costs, pure functions.

A group of ``p`` chips is placed contiguously (a TP group of 8 Maia 200s is two trays), so it spans
the innermost tiers it needs. Collectives run hierarchically: each tier carries the traffic left
after the inner tiers have reduced it, at its per-chip bandwidth divided by its oversubscription.
"""

from __future__ import annotations

import math

import numpy as np

from .calibration import Calibration
from .hardware import ChipSpec, NetworkTier


def group_fanouts(chip: ChipSpec, group_size: int) -> list[tuple[NetworkTier, int]]:
    """How many peers of the group each tier connects: [(tier, fanout)], product = group_size."""
    if group_size < 1:
        raise ValueError("group_size must be >= 1")
    out: list[tuple[NetworkTier, int]] = []
    covered = 1
    for tier in chip.scale_up:
        if covered >= group_size:
            break
        span = min(group_size, tier.chips)
        fan = math.ceil(span / covered)
        if fan > 1:
            out.append((tier, fan))
            covered *= fan
    if covered < group_size:
        biggest = chip.scale_up[-1].chips
        raise ValueError(f"a group of {group_size} chips exceeds the largest scale-up domain ({biggest})")
    return out


def _latency_hops(tier: NetworkTier, fan: int) -> float:
    if tier.topology == "full_mesh":
        return 1.0
    if tier.topology == "switched":
        return math.ceil(math.log2(fan)) if fan > 1 else 0.0
    # torus (TPU ICI is 3-D): a group of f chips is a near-cubic block reduced with a ring per dimension,
    # so about 3 * (f^(1/3) - 1) hops rather than f - 1 around one long ring
    return float(max(1, math.ceil(3.0 * (fan ** (1.0 / 3.0) - 1.0) - 1e-9)))


def _tier_bw(tier: NetworkTier) -> float:
    return tier.bandwidth_bytes_per_s / tier.oversubscription


def allreduce_time(chip: ChipSpec, calib: Calibration, group_size: int, message_bytes):
    """Seconds for an all-reduce of ``message_bytes`` per chip (scalar or array).

    Per tier: reduce-scatter plus all-gather, 2(f-1)/f of the remaining message at the tier's
    bandwidth, then the next tier works on the 1/f shard. The bandwidth efficiency is the
    calibration's ``allreduce_fraction``, scaled down for small messages when
    ``collective_half_bytes`` is set (see :meth:`Calibration.collective_efficiency`)."""
    m = np.asarray(message_bytes, dtype=float)
    if group_size <= 1:
        return np.zeros_like(m) if m.ndim else 0.0
    t = np.full_like(m, calib.collective_overhead_s + (group_size - 1) * calib.collective_rank_latency_s)
    shard = m
    eff = calib.collective_efficiency(calib.allreduce_fraction, m)
    for tier, fan in group_fanouts(chip, group_size):
        bw = _tier_bw(tier) * eff
        t = t + 2.0 * (fan - 1) / fan * shard / bw + 2.0 * _latency_hops(tier, fan) * tier.latency_s
        shard = shard / fan
    return t if t.ndim else float(t)


def allgather_time(chip: ChipSpec, calib: Calibration, group_size: int, message_bytes):
    """All-gather of ``message_bytes`` output per chip: half an all-reduce's traffic and rank latency."""
    if group_size <= 1:
        return 0.0 * np.asarray(message_bytes, dtype=float)
    ar = allreduce_time(chip, calib, group_size, message_bytes)
    return calib.collective_overhead_s + (ar - calib.collective_overhead_s) / 2.0


def alltoall_time(chip: ChipSpec, calib: Calibration, group_size: int, message_bytes):
    """All-to-all where each chip sends ``message_bytes`` in total, (p-1)/p of it off-chip.

    The slowest tier bounds it: the share of traffic that must cross tier i is (1 - inner/p)."""
    m = np.asarray(message_bytes, dtype=float)
    if group_size <= 1:
        return np.zeros_like(m) if m.ndim else 0.0
    worst = np.zeros_like(m)
    inner = 1
    lat = 0.0
    eff = calib.collective_efficiency(calib.alltoall_fraction, m)
    for tier, fan in group_fanouts(chip, group_size):
        crossing = m * (1.0 - inner / group_size)
        worst = np.maximum(worst, crossing / (_tier_bw(tier) * eff))
        lat += _latency_hops(tier, fan) * tier.latency_s
        inner *= fan
    t = calib.collective_overhead_s + (group_size - 1) * calib.collective_rank_latency_s + lat + worst
    return t if t.ndim else float(t)


def send_time(chip: ChipSpec, calib: Calibration, message_bytes, hops_tier: int = 0):
    """Point-to-point send (pipeline stage boundary) over tier ``hops_tier``."""
    tier = chip.scale_up[min(hops_tier, len(chip.scale_up) - 1)]
    return calib.collective_overhead_s + tier.latency_s + np.asarray(message_bytes, float) / tier.bandwidth_bytes_per_s


def bus_bandwidth(chip: ChipSpec, calib: Calibration, group_size: int, message_bytes: float) -> float:
    """NCCL-style all-reduce bus bandwidth, for comparison with nccl-tests figures."""
    t = allreduce_time(chip, calib, group_size, message_bytes)
    return 2.0 * (group_size - 1) / group_size * message_bytes / t
