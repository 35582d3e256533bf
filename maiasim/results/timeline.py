"""The timeline frame: cluster-wide time bins, built exactly from the step and queue logs.

Exact rather than sampled: each step's tokens and KV use are spread over the bins it overlaps, the
steps of a fast-forward jump are placed one by one where they ran (so the frame is the same with
fast-forward on or off), and the queue depth integrates the queue's own changes (so Little's law
holds on it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..engine.records import Records
from ..scenario.limits import MAX_TIMELINE_BINS
from .replicas import ReplicaHardware


def timeline_frame(records: Records, hw: ReplicaHardware, duration_s: float,
                   bin_s: float | None) -> pd.DataFrame:
    """Cluster-wide per time bin: tokens/s, prefill tokens/s, mean queue depth, mean batch size,
    KV use, busy share and power.

    ``bin_s``: the scenario's bin width, or None for about 120 bins of a round width. A long
    drain past a fine-grained horizon is binned coarser, to stay within the bins the schema
    allows. The last bin ends with the run, so its means are over the time it covers (not a
    false drop at the end)."""
    st = records.steps
    dur = duration_s
    bin_s = bin_s or _nice_bin(dur)
    if dur / bin_s > MAX_TIMELINE_BINS:  # a long drain past a fine-grained horizon
        bin_s = _nice_bin(dur * 120.0 / MAX_TIMELINE_BINS)
    nb = max(1, int(np.ceil(dur / bin_s)))
    edges = np.arange(nb + 1) * bin_s
    width = np.maximum(np.minimum(edges[1:], max(dur, 1e-12)) - edges[:-1], 1e-12)
    zeros = np.zeros(nb)
    cols = {"time_s": edges[:-1], "output_tok_s": zeros, "prefill_tok_s": zeros,
            "queue_depth": zeros, "batch_size": zeros, "kv_used_frac": zeros,
            "stepping_frac": zeros}
    if st is None or not len(st):  # no step ran: every chip idles
        cols["power_w"] = zeros + float((hw.chips * hw.idle_power_w).sum())
        cols["power_rack_w"] = cols["power_w"] + hw.beside_w
        return pd.DataFrame(cols)
    a = st.arrays()
    s, e = a["start_s"], a["end_s"]
    # overlap of every segment with every bin, done as a dense sweep over segments' bin spans
    first = np.minimum((s / bin_s).astype(int), nb - 1)
    last = np.minimum(np.maximum(((e - 1e-12) / bin_s).astype(int), first), nb - 1)
    span = last - first + 1
    seg = np.repeat(np.arange(len(s)), span)
    b = np.repeat(first, span) + (np.arange(len(seg)) - np.repeat(np.cumsum(span) - span, span))
    lo = np.maximum(s[seg], edges[b])
    hi = np.minimum(e[seg], edges[b + 1])
    ov = np.clip(hi - lo, 0, None)
    frac = np.divide(ov, (e - s)[seg], out=np.ones_like(ov), where=(e - s)[seg] > 0)
    kv_time = a["kv_tokens"][seg] * ov
    frac, kv_time = _place_jump_steps(records.jumps, a, seg, lo, hi, frac, kv_time)
    n_rep = hw.replicas
    cap = float(hw.kv_capacity_tokens.sum()) / n_rep  # mean per replica
    cols["output_tok_s"] = np.bincount(b, a["out_tokens"][seg] * frac, nb) / width
    cols["prefill_tok_s"] = np.bincount(b, a["prefill_tokens"][seg] * frac, nb) / width
    busy = np.bincount(b, ov, nb)
    cols["stepping_frac"] = busy / (width * n_rep)
    cols["queue_depth"] = _queue_integral(records, edges, dur) / width
    cols["batch_size"] = np.bincount(b, a["running"][seg] * ov, nb) / np.maximum(busy, 1e-12)
    cols["kv_used_frac"] = np.bincount(b, kv_time, nb) / (width * n_rep * cap)
    cols["power_w"] = _chip_power(records, hw, duration_s, a["replica"][seg], ov, b, nb, width)
    cols["power_rack_w"] = cols["power_w"] + hw.beside_w
    return pd.DataFrame(cols)


def kv_token_seconds(records: Records, replicas: int) -> np.ndarray | None:
    """Each replica's KV use integrated over time (token-seconds), from the step log: a step's
    use at its end held over the step, a jump's steps placed one by one, idle time zero. Divided
    by the capacity and the run's duration it is the time-weighted mean KV use (None without a
    step log)."""
    st = records.steps
    if st is None:
        return None
    a = st.arrays()
    s, e = a["start_s"], a["end_s"]
    seg = np.arange(len(s))
    kv_time = a["kv_tokens"] * (e - s)
    _, kv_time = _place_jump_steps(records.jumps, a, seg, s, e, np.ones(len(s)), kv_time)
    return np.bincount(a["replica"], kv_time, replicas)


def _chip_power(records: Records, hw: ReplicaHardware, duration_s: float, rep: np.ndarray,
                ov: np.ndarray, b: np.ndarray, nb: int, width: np.ndarray) -> np.ndarray:
    """Mean chip power per bin: every chip's idle draw all the time, plus each replica's active
    energy (its activity model's total less idle) spread over the time it ran steps, so the bins
    add up to the replicas' energy exactly."""
    rp = records.replicas
    dur = max(duration_s, 1e-12)
    idle_w = hw.chips * hw.idle_power_w  # each replica's
    active = hw.energy_j(dur, rp.flops, rp.hbm_bytes) - idle_w * dur
    rate = np.divide(active, rp.busy_s, out=np.zeros_like(active), where=rp.busy_s > 0)
    return (float(idle_w.sum()) * width + np.bincount(b, rate[rep] * ov, nb)) / width


def _place_jump_steps(jumps, a: dict, seg: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                      frac: np.ndarray, kv_time: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Token share and KV time-integral of each (jump, bin) overlap, step by step.

    A jump of S steps has step m lasting ``d1 + c (m - 1)``; each step's tokens are spread over
    that step and its KV use is the value at its end (``kv0 + n m``), exactly as ordinary step
    rows record them."""
    if jumps is None or not len(jumps):
        return frac, kv_time
    jt = np.frombuffer(jumps, dtype=float).reshape(-1, 4)
    is_jump = np.zeros(len(a["start_s"]), bool)
    is_jump[jt[:, 0].astype(int)] = True
    where = np.flatnonzero(is_jump[seg])
    if not len(where):
        return frac, kv_time
    row_of = np.full(len(is_jump), -1)
    row_of[jt[:, 0].astype(int)] = np.arange(len(jt))
    j = row_of[seg[where]]
    steps, d1, c = jt[j, 1], jt[j, 2], jt[j, 3]
    r = seg[where]
    t0, n = a["start_s"][r], a["running"][r].astype(float)
    kv0 = a["kv_tokens"][r] - n * steps

    def cum(m):
        return m * d1 + c * m * (m - 1) / 2.0

    def at(t):
        """(fractional steps done, KV time-integral) from the jump's start to ``t``."""
        u = np.clip(t - t0, 0.0, cum(steps))
        A, B = c / 2.0, d1 - c / 2.0
        with np.errstate(invalid="ignore", divide="ignore"):
            root = np.where(A > 0, (-B + np.sqrt(B * B + 4 * A * u)) / np.where(A > 0, 2 * A, 1),
                            u / np.where(B > 0, B, 1))
        m = np.clip(np.floor(root), 0, steps)
        m = np.where(cum(m) > u, m - 1, m)
        m = np.where((m < steps) & (cum(m + 1) <= u), m + 1, m)
        m = np.clip(m, 0, steps)
        rest = u - cum(m)
        dm = d1 + c * m  # the duration of step m + 1
        done = m + np.divide(rest, dm, out=np.zeros_like(rest), where=(m < steps) & (dm > 0))
        kv_full = kv0 * cum(m) + n * d1 * m * (m + 1) / 2.0 + n * c * (m - 1) * m * (m + 1) / 3.0
        return done, kv_full + (kv0 + n * (m + 1)) * rest

    done_hi, kv_hi = at(hi[where])
    done_lo, kv_lo = at(lo[where])
    frac, kv_time = frac.copy(), kv_time.copy()
    frac[where] = (done_hi - done_lo) / np.maximum(steps, 1)
    kv_time[where] = kv_hi - kv_lo
    return frac, kv_time


def _queue_integral(rec: Records, edges: np.ndarray, end: float) -> np.ndarray:
    """Time-integral of the cluster's queue length over each bin, from its +1/-1 changes: each
    routed request's first wait (``arrival_s`` to ``admit_s``) and the logged re-queues and
    drops."""
    out = np.zeros(len(edges) - 1)
    r = rec.requests
    if rec.queue is None:
        return out
    routed = r.replica >= 0
    admitted = ~np.isnan(r.admit_s)
    q = np.frombuffer(rec.queue, dtype=float).reshape(-1, 2)
    t = np.concatenate([r.arrival_s[routed], r.admit_s[admitted], q[:, 0]])
    if not len(t):
        return out
    delta = np.concatenate([np.ones(int(routed.sum())), -np.ones(int(admitted.sum())), q[:, 1]])
    order = np.argsort(t, kind="stable")
    t, depth = t[order], np.cumsum(delta[order])
    area = np.concatenate([[0.0], np.cumsum(depth[:-1] * np.diff(t))])  # integral up to t[i]
    x = np.clip(edges, 0.0, max(end, 0.0))
    i = np.searchsorted(t, x, side="right") - 1
    ok = i >= 0
    total = np.zeros(len(x))
    total[ok] = area[i[ok]] + depth[i[ok]] * (x[ok] - t[i[ok]])
    return np.diff(total)


def _nice_bin(duration: float) -> float:
    """A round bin width (1, 2 or 5 times a power of ten) giving about 120 bins."""
    raw = max(duration / 120.0, 1e-3)
    mag = 10 ** np.floor(np.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            return float(m * mag)
    return float(10 * mag)
