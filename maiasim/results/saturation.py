"""Saturation: did a replica's queue grow without bound while requests arrived?

A capacity number read from an unstable run is meaningless (its latencies grow with the horizon),
so every replica is judged. From the request log, a replica's queue rises at each arrival and
falls at each first admission. At the horizon (when arrivals stop) a replica is **saturated**
when its queue holds at least :data:`MIN_QUEUE` requests, has not been empty for the last quarter
or more of the arrival period, and is still growing: it holds over :data:`GROWTH` times what it
held halfway through that non-empty stretch. ``saturated_since_s`` is the last time its queue was
empty. A busy but stable replica empties its queue now and then; a bounded closed loop plateaus;
a burst drains: none of them is flagged.
"""

from __future__ import annotations

import numpy as np

from ..engine.records import RequestLog

MIN_QUEUE = 8  #: requests queued at the horizon, at least
GROWTH = 1.5  #: queue at the horizon over the queue halfway through the non-empty stretch
MIN_SHARE = 0.25  #: the non-empty stretch, as a share of the arrival period


def saturation(req: RequestLog, replicas: int, horizon_s: float) -> tuple[np.ndarray, np.ndarray]:
    """``(saturated, saturated_since_s)`` per replica (NaN since-time when not saturated)."""
    H = float(horizon_s)
    arrived = (req.replica >= 0) & (req.arrival_s <= H)
    admitted = arrived & (req.admit_s <= H)
    rep = np.concatenate([req.replica[arrived], req.replica[admitted]]).astype(np.int64)
    t = np.concatenate([req.arrival_s[arrived], req.admit_s[admitted]])
    delta = np.concatenate([np.ones(int(arrived.sum())), -np.ones(int(admitted.sum()))])
    since = np.full(replicas, np.nan)
    if not len(t):
        return np.zeros(replicas, bool), since
    order = np.lexsort((-delta, t, rep))  # by replica, then time; arrivals before admissions
    rep, t, delta = rep[order], t[order], delta[order]
    q = np.cumsum(delta)
    first = np.searchsorted(rep, np.arange(replicas), side="left")
    last = np.searchsorted(rep, np.arange(replicas), side="right") - 1
    has = last >= first
    base = np.where(first > 0, q[np.maximum(first - 1, 0)], 0.0)
    q = q - np.repeat(base, np.where(has, last - first + 1, 0))
    q_end = np.where(has, q[np.maximum(last, 0)] if len(q) else 0.0, 0.0)
    # last time the queue was empty (after all events at that time): 0 if it never was
    empty_t = np.zeros(replicas)
    at_zero = q == 0
    np.maximum.at(empty_t, rep[at_zero], t[at_zero])
    # the queue halfway between then and the horizon
    mid = (empty_t + H) / 2.0
    key = rep * (2.0 * H + 1.0) + t
    i_mid = np.searchsorted(key, np.arange(replicas) * (2.0 * H + 1.0) + mid, side="right") - 1
    q_mid = np.where(has & (i_mid >= first), q[np.clip(i_mid, 0, len(q) - 1)], 0.0)
    sat = (q_end >= MIN_QUEUE) & (H - empty_t >= MIN_SHARE * H) & (q_end > GROWTH * q_mid)
    since[sat] = empty_t[sat]
    return sat, since
