"""Arrival times and request lengths of one workload, drawn as numpy arrays.

Pure functions of a spec and a random generator, so the same seed always gives the same arrays.
Drawing stops with a :class:`ScenarioError` once a workload passes ``engine.max_requests`` (a
heavy-tailed gamma can, though its rate x horizon is under the limit); the check only reads what
was drawn, so a run under the limit draws exactly what an unlimited one would.
"""

from __future__ import annotations

import numpy as np

from ..errors import ScenarioError
from ..scenario.workloads import Burst, Fixed, Gamma, Lognormal, Poisson, TraceLengths, Uniform

__all__ = ["arrival_times", "draw_lengths", "too_many"]


def draw_lengths(spec, n: int, rng: np.random.Generator,
                 trace_col: np.ndarray | None) -> np.ndarray:
    """``n`` token counts of a length distribution; no spec (or a trace spec without a path)
    means the arrival trace's own column, in order."""
    if spec is None or (isinstance(spec, TraceLengths) and spec.path is None):
        assert trace_col is not None
        return np.asarray(trace_col[:n], dtype=np.int64)
    if isinstance(spec, Fixed):
        return np.full(n, spec.value, dtype=np.int64)
    if isinstance(spec, Uniform):
        return rng.integers(spec.low, spec.high + 1, size=n, dtype=np.int64)
    if isinstance(spec, Lognormal):
        x = spec.median * np.exp(spec.sigma * rng.standard_normal(n))
        return np.clip(np.rint(x), spec.min, spec.max).astype(np.int64)
    if isinstance(spec, TraceLengths):
        raise AssertionError("handled by the caller")
    raise AssertionError(spec)


def too_many(name: str, what: str, limit: int,
             advice: str = "shorten horizon_s, lower the rate or count") -> ScenarioError:
    """The error for a workload over ``engine.max_requests``: what passed it and what to change."""
    return ScenarioError(f"workload {name!r}: {what}, over engine.max_requests = {limit:,}; "
                         f"{advice}, or raise engine.max_requests")


def arrival_times(arr, horizon: float, rng: np.random.Generator, limit: int,
                  name: str = "?") -> np.ndarray:
    """Open-loop arrival times in [0, horizon); stops with an error past ``limit`` requests.

    The limit check only reads what was drawn, so the draws are those of an unlimited run."""
    if isinstance(arr, Burst):
        if arr.count > limit:
            raise too_many(name, f"a burst of {arr.count:,} requests", limit)
        return np.zeros(arr.count)
    if isinstance(arr, (Poisson, Gamma)):
        mean = 1.0 / arr.rate_per_s
        expect = int(horizon / mean * 1.1 + 20 * np.sqrt(horizon / mean) + 100)
        chunks, t0, drawn = [], 0.0, 0
        while True:
            if isinstance(arr, Poisson):
                gaps = rng.exponential(mean, size=expect)
            else:  # gamma with shape k = 1/cv^2 and the same mean
                k = 1.0 / arr.cv**2
                gaps = rng.gamma(k, mean / k, size=expect)
            t = t0 + np.cumsum(gaps)
            chunks.append(t[t < horizon])
            drawn += len(chunks[-1])
            if drawn > limit:
                raise _overdrawn(arr, horizon, limit, name)
            if t[-1] >= horizon:
                return np.concatenate(chunks)
            t0 = t[-1]
    raise AssertionError(arr)


def _overdrawn(arr: Poisson | Gamma, horizon: float, limit: int, name: str) -> ScenarioError:
    """Drawing passed the limit though rate x horizon is under it: a heavy-tailed gamma."""
    cv = f" with cv = {arr.cv:g}" if isinstance(arr, Gamma) else ""
    return too_many(name, f"{arr.type} arrivals{cv} drew more than {limit:,} requests in "
                    f"horizon_s = {horizon:g}, though rate x horizon is "
                    f"{arr.rate_per_s * horizon:,.0f} (a large cv makes nearly all gaps zero)",
                    limit, "lower cv or the rate")
