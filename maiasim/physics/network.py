"""Collective communication over a chip's scale-up topology: alpha-beta costs, pure functions.

A group of ``p`` chips is placed contiguously (a TP group of 8 Maia 200s is two trays), so it spans
the innermost tiers it needs. Collectives run hierarchically: each tier carries the traffic left
after the inner tiers have reduced it, at its per-chip bandwidth divided by its oversubscription.
Tiers run one after another, except where a tier is ``pooled`` with the tiers inside it (ports of
one NIC, reaching the inner peers too): then the pool's links carry its traffic concurrently, and
inner traffic may spill onto outer links but not the reverse.
"""

from __future__ import annotations

import math

import numpy as np

from ..spec.calibration import Calibration
from ..spec.hardware import ChipSpec, NetworkTier


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
        raise ValueError(f"a group of {group_size} chips exceeds the largest scale-up domain "
                         f"({biggest})")
    return out


def _latency_hops(tier: NetworkTier, fan: int) -> float:
    if tier.topology == "full_mesh":
        return 1.0
    if tier.topology == "switched":
        return math.ceil(math.log2(fan)) if fan > 1 else 0.0
    # torus (TPU ICI is 3-D): a group of f chips is a near-cubic block reduced with a ring per
    # dimension, so about 3 * (f^(1/3) - 1) hops rather than f - 1 around one long ring
    return float(max(1, math.ceil(3.0 * (fan ** (1.0 / 3.0) - 1.0) - 1e-9)))


def _tier_bw(tier: NetworkTier, fan: int) -> float:
    """Per-chip bandwidth a group with ``fan`` peers-plus-self in this tier can use."""
    bw = tier.bandwidth_bytes_per_s / tier.oversubscription
    if tier.topology == "full_mesh" and tier.chips > 1:
        return bw * (fan - 1) / (tier.chips - 1)  # only the direct links to the group's own peers
    return bw


def _stages(chip: ChipSpec, group_size: int) -> list[tuple[NetworkTier, int, int]]:
    """(tier, fanout, pool) for each tier a group uses: the tiers it spans, then any pooled tiers
    just outside them (their ports carry inner traffic too). Tiers of one pool share a pool
    number."""
    fans = {id(t): f for t, f in group_fanouts(chip, group_size)}
    last = max((i for i, t in enumerate(chip.scale_up) if id(t) in fans), default=-1)
    out: list[tuple[NetworkTier, int, int]] = []
    pool = -1
    for i, tier in enumerate(chip.scale_up):
        if i > last and not (tier.pooled and out):
            break
        pool += 0 if tier.pooled and out else 1
        out.append((tier, fans.get(id(tier), 1), pool))
    return out


def _pool_time(traffic: list, bandwidth: list[float]):
    """Seconds for one pool of tiers: traffic at tier i can use the links of tier i and the tiers
    outside it, so the binding cut is the worst suffix (a pool of one tier: traffic / bandwidth)."""
    worst = 0.0
    for i in range(len(traffic)):
        bw = sum(bandwidth[i:])
        if bw > 0:
            worst = np.maximum(worst, sum(traffic[i:]) / bw)
    return worst


def allreduce_time(chip: ChipSpec, calib: Calibration, group_size: int, message_bytes):
    """Seconds for an all-reduce of ``message_bytes`` per chip (scalar or array).

    Per tier: reduce-scatter plus all-gather, 2(f-1)/f of the remaining message at the tier's
    bandwidth, then the next tier works on the 1/f shard. The bandwidth efficiency is the
    calibration's ``allreduce_fraction``, scaled down for small messages when
    ``collective_half_bytes`` is set (see :meth:`Calibration.collective_efficiency`)."""
    m = np.asarray(message_bytes, dtype=float)
    if group_size <= 1:
        return np.zeros_like(m) if m.ndim else 0.0
    t = np.full_like(m, calib.collective_overhead_s
                     + (group_size - 1) * calib.collective_rank_latency_s)
    eff = calib.collective_efficiency(calib.allreduce_fraction, m)
    shard = m
    pools: dict[int, tuple[list, list]] = {}
    for tier, fan, pool in _stages(chip, group_size):
        traffic, bw = pools.setdefault(pool, ([], []))
        traffic.append(2.0 * (fan - 1) / fan * shard)
        bw.append(_tier_bw(tier, fan))
        if fan > 1:
            t = t + 2.0 * _latency_hops(tier, fan) * tier.latency_s
        shard = shard / fan
    for traffic, bw in pools.values():
        t = t + _pool_time(traffic, bw) / eff
    return t if t.ndim else float(t)


def allgather_time(chip: ChipSpec, calib: Calibration, group_size: int, message_bytes):
    """All-gather of ``message_bytes`` output per chip: half an all-reduce's traffic and rank
    latency."""
    if group_size <= 1:
        return 0.0 * np.asarray(message_bytes, dtype=float)
    ar = allreduce_time(chip, calib, group_size, message_bytes)
    return calib.collective_overhead_s + (ar - calib.collective_overhead_s) / 2.0


def alltoall_time(chip: ChipSpec, calib: Calibration, group_size: int, message_bytes):
    """All-to-all where each chip sends ``message_bytes`` in total, (p-1)/p of it off-chip.

    The slowest cut bounds it: the share of traffic that must leave tier i's inner domain is
    (1 - inner/p), carried by tier i's links (and, in a pool, by the pooled tiers outside it)."""
    m = np.asarray(message_bytes, dtype=float)
    if group_size <= 1:
        return np.zeros_like(m) if m.ndim else 0.0
    eff = calib.collective_efficiency(calib.alltoall_fraction, m)
    stages = _stages(chip, group_size)
    worst = np.zeros_like(m)
    inner = 1
    lat = 0.0
    for i, (tier, fan, pool) in enumerate(stages):
        if fan > 1:
            crossing = m * (1.0 - inner / group_size)
            bw = sum(_tier_bw(outer, f) for outer, f, q in stages[i:] if q == pool)
            worst = np.maximum(worst, crossing / (bw * eff))
            lat += _latency_hops(tier, fan) * tier.latency_s
            inner *= fan
    t = (calib.collective_overhead_s + (group_size - 1) * calib.collective_rank_latency_s + lat
         + worst)
    return t if t.ndim else float(t)


def send_time(chip: ChipSpec, calib: Calibration, message_bytes, hops_tier: int = 0):
    """Point-to-point send (pipeline stage boundary) over tier ``hops_tier`` (one link in a full
    mesh)."""
    tier = chip.scale_up[min(hops_tier, len(chip.scale_up) - 1)]
    return (calib.collective_overhead_s + tier.latency_s
            + np.asarray(message_bytes, float) / _tier_bw(tier, 2))


def bus_bandwidth(chip: ChipSpec, calib: Calibration, group_size: int,
                  message_bytes: float) -> float:
    """NCCL-style all-reduce bus bandwidth, for comparison with nccl-tests figures."""
    t = allreduce_time(chip, calib, group_size, message_bytes)
    return 2.0 * (group_size - 1) / group_size * message_bytes / t
