"""Confidence intervals over a sweep's replications (Student t).

Replications of one grid point differ only in their random draws (arrivals, lengths), so their
spread measures the simulation's sampling noise; :func:`confidence` turns it into a mean and a
Student-t interval per point and metric.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..results.columns import with_ci


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularized incomplete beta (modified Lentz; Numerical Recipes
    6.4)."""
    tiny, eps = 1e-300, 1e-15
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 1000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def _betai(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    ln = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x)
          + b * math.log1p(-x))
    front = math.exp(ln)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """Student t cumulative distribution with ``df`` degrees of freedom."""
    if df <= 0:
        raise ValueError("df must be > 0")
    tail = 0.5 * _betai(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_ppf(q: float, df: float) -> float:
    """Quantile of Student t (inverse of :func:`t_cdf`): the interval's half-width factor. By
    bisection, to ~1e-12 relative."""
    if not 0.0 < q < 1.0:
        raise ValueError("q must be in (0, 1)")
    if q == 0.5:
        return 0.0
    if q < 0.5:
        return -t_ppf(1.0 - q, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < q:
        lo, hi = hi, hi * 2.0
        if hi > 1e12:
            return math.inf
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < q:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


def confidence(df: pd.DataFrame, metrics: Sequence[str] | None = None, level: float = 0.95,
               by: Sequence[str] | None = None) -> pd.DataFrame:
    """Mean and Student-t confidence interval of each metric over a sweep's replications.

    One row per grid point (``by``: the swept columns, from ``df.attrs["grid"]`` or else every
    column before ``replication``), with ``n`` (replications that ran without error) and, per
    metric, ``<m>_mean``, ``<m>_std``, ``<m>_ci_low``, ``<m>_ci_high``. The interval is
    ``mean +- t_{(1+level)/2, n-1} * std / sqrt(n)``; it is NaN when fewer than two replications
    ran. ``metrics`` default to the summary columns the column registry marks for intervals.

    It covers only the simulation's sampling noise (arrival and length draws); it says nothing
    about how far the model is from real hardware. Trace-replay workloads redraw nothing, so their
    replications agree and the interval collapses to the point.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if by is None:
        by = df.attrs.get("grid")
        if by is None:
            if "replication" not in df.columns:
                raise ValueError("confidence: cannot tell the grid columns; pass by=[...]")
            by = list(df.columns[: list(df.columns).index("replication")])
    by = [c for c in by if c != "seed"] or []
    if metrics is None:
        metrics = [m for m in with_ci() if m in df.columns]
    metrics = list(metrics)
    missing = [m for m in metrics if m not in df.columns]
    if missing:
        raise ValueError(f"confidence: unknown metric(s) {missing}")
    rows = []
    groups = df.groupby(list(by), sort=False, dropna=False) if by else [((), df)]
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        row: dict[str, Any] = dict(zip(by, key, strict=True))
        if "error" in g.columns:
            g = g[g["error"].isna()]
        row["n"] = len(g)
        for m in metrics:
            v = pd.to_numeric(g[m], errors="coerce").to_numpy(float)
            v = v[~np.isnan(v)]  # a metric can be NaN in a run that worked (e.g. no price)
            k = len(v)
            mean = float(v.mean()) if k else math.nan
            std = float(v.std(ddof=1)) if k >= 2 else math.nan
            half = t_ppf(0.5 + level / 2.0, k - 1) * std / math.sqrt(k) if k >= 2 else math.nan
            row[f"{m}_mean"] = mean
            row[f"{m}_std"] = std
            row[f"{m}_ci_low"] = mean - half
            row[f"{m}_ci_high"] = mean + half
        rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs["level"] = level
    return out
