"""What failures did to a run: the failure log (``Result.failures``), replicas down over time,
availability, and the summary's failure counts.

The engine records facts (:attr:`Records.failures`: each failure or drain, each outage); every
figure here is derived from them, so a run without failures has zero down time and availability 1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..engine.failures import KINDS
from ..engine.records import Records

#: the failure frame's columns
FAILURE_COLUMNS = ("time_s", "pool", "replica", "component", "repair_end_s")


def failures_frame(rec: Records, pools: list[str]) -> pd.DataFrame:
    """One row per replica taken down by a failure or a drain: when, which pool and replica,
    the component that failed (``chip``, ``hbm``, ``host``, ``link``; ``drain`` for planned
    maintenance) and when its repair and model reload end (it may be past the run's end)."""
    events = rec.failures[0] if rec.failures is not None else []
    a = np.array(events, dtype=float).reshape(-1, 5)
    return pd.DataFrame({
        "time_s": a[:, 0],
        "pool": pd.Categorical.from_codes(a[:, 1].astype(int), categories=list(pools)),
        "replica": a[:, 2].astype(np.int64),
        "component": pd.Categorical.from_codes(a[:, 3].astype(int), categories=list(KINDS)),
        "repair_end_s": a[:, 4],
    })


def _outages(rec: Records) -> np.ndarray:
    """(replica, down from, up at) per outage, as an array of shape (n, 3)."""
    out = rec.failures[1] if rec.failures is not None else []
    return np.array(out, dtype=float).reshape(-1, 3)


def replicas_down(rec: Records, starts: np.ndarray, end: float) -> np.ndarray:
    """Mean number of replicas down in each time bin (bins start at ``starts``; the last ends at
    ``end``)."""
    edges = np.append(np.asarray(starts, float), max(end, float(starts[-1]) if len(starts) else 0))
    width = np.maximum(np.diff(edges), 1e-12)
    o = _outages(rec)
    if not len(o) or not len(starts):
        return np.zeros(len(starts))
    t = np.concatenate([o[:, 1], o[:, 2]])
    order = np.argsort(t, kind="stable")
    t = t[order]
    depth = np.cumsum(np.concatenate([np.ones(len(o)), -np.ones(len(o))])[order])
    area = np.concatenate([[0.0], np.cumsum(depth[:-1] * np.diff(t))])  # integral up to t[i]
    i = np.searchsorted(t, edges, side="right") - 1
    ok = i >= 0
    total = np.zeros(len(edges))
    total[ok] = area[i[ok]] + depth[i[ok]] * (edges[ok] - t[i[ok]])
    return np.diff(total) / width


def availability(rec: Records, n_replicas: int, duration_s: float) -> float:
    """Share of the fleet's replica-time spent serving (not failed, repaired or drained)."""
    o = _outages(rec)
    if not len(o) or duration_s <= 0:
        return 1.0
    down = np.clip(o[:, 2], 0, duration_s) - np.clip(o[:, 1], 0, duration_s)
    return float(1.0 - down.sum() / (n_replicas * duration_s))


def touched_by_failures(req: pd.DataFrame) -> np.ndarray:
    """Which requests a failure or drain touched: retried, or ended for want of a replica."""
    reason = req.reason.astype(str)
    return ((req.retries > 0) | reason.isin(("failed_retries_exhausted",
                                             "no_replica_available"))).to_numpy()


def failure_counts(req: pd.DataFrame) -> dict[str, int]:
    """The summary's failure counts over the requests ``req``: retried after losing their
    replica, dropped when out of retries, and ended because no replica of their pool was up."""
    reason = req.reason.astype(str)
    return {"retried": int((req.retries > 0).sum()),
            "dropped_retries_exhausted": int((reason == "failed_retries_exhausted").sum()),
            "no_replica_available": int((reason == "no_replica_available").sum())}
