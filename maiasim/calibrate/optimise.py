"""The bounded search behind every fit: least log-squares over a few calibration factors.

Each factor is searched in a logit space spanning its search range (:mod:`.parameters`), so the
search itself is unbounded and a factor can never leave its box. Two small numpy optimisers do
the work: Nelder-Mead finds a basin (it needs no gradient, so a floor or a knee that is inactive
at the start can still switch on) and Levenberg-Marquardt descends it (least-squares structure
converges in tens of iterations where Nelder-Mead needs hundreds, and it does not stall in the
long valleys that coupled overheads and floors make).

Both are kept here rather than taken from ``scipy.optimize.least_squares``: scipy would add 143 MB
and 0.26-0.8 s of import to a package that does not otherwise need it, and swapped in it moves the
H100 Splitwise fit to another basin of nearly the same loss with no better held-out error, while
these two reproduce the shipped factors and docs/validation.md exactly (measurements in
docs/calibration.md, "Why not scipy").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from ..spec.calibration import Calibration
from .parameters import PARAMS, Param, get_param, set_params

#: Residual of every row when a trial point is a combination the Calibration validator rejects:
#: a log error of 30 (a factor e^30 off) is worse than any real point.
REJECTED_RESIDUAL = 30.0


def to_unit(p: Param, v: float) -> float:
    """``v`` as a point of the unbounded search space of ``p`` (logit of its place in the range).

    A start on a bound is nudged inside (to 1% of the range), or the search could not move it."""
    if p.log:
        lo, hi, v = math.log(p.lo), math.log(p.hi), math.log(max(v, p.lo))
    else:
        lo, hi = p.lo, p.hi
    u = min(max((v - lo) / (hi - lo), 1e-2), 1 - 1e-2)
    return math.log(u / (1 - u))


def from_unit(p: Param, x: float) -> float:
    """The factor value at search-space point ``x``: always inside ``[p.lo, p.hi]``."""
    u = 1.0 / (1.0 + math.exp(-max(min(x, 40.0), -40.0)))
    if p.log:
        return math.exp(math.log(p.lo) + u * (math.log(p.hi) - math.log(p.lo)))
    return p.lo + u * (p.hi - p.lo)


def log_residuals(pred, meas) -> np.ndarray:
    """Log ratios predicted / measured: symmetric in over- and under-prediction, and scale-free,
    so a 10 us kernel and a 100 ms step weigh the same at the same relative error."""
    return np.log(np.maximum(np.asarray(pred, float), 1e-15) / np.asarray(meas, float))


def nelder_mead(f: Callable[[np.ndarray], float], x0: np.ndarray, step: float = 0.6,
                iters: int = 600, tol: float = 1e-9) -> tuple[np.ndarray, float]:
    """Minimise ``f`` from ``x0`` (standard Nelder-Mead: reflect, expand, contract, shrink).

    Returns the best point and its value; stops when the simplex's values agree to ``tol``."""
    n = len(x0)
    pts = [np.asarray(x0, float)] + [np.asarray(x0, float) + step * np.eye(n)[i] for i in range(n)]
    vals = [f(p) for p in pts]
    for _ in range(iters):
        order = np.argsort(vals)
        pts, vals = [pts[i] for i in order], [vals[i] for i in order]
        if abs(vals[-1] - vals[0]) < tol * (1 + abs(vals[0])):
            break
        centroid = np.mean(pts[:-1], axis=0)
        xr = centroid + (centroid - pts[-1])
        fr = f(xr)
        if fr < vals[0]:
            xe = centroid + 2.0 * (centroid - pts[-1])
            fe = f(xe)
            pts[-1], vals[-1] = (xe, fe) if fe < fr else (xr, fr)
        elif fr < vals[-2]:
            pts[-1], vals[-1] = xr, fr
        else:
            xc = centroid + 0.5 * (pts[-1] - centroid)
            fc = f(xc)
            if fc < vals[-1]:
                pts[-1], vals[-1] = xc, fc
            else:
                pts = [pts[0]] + [pts[0] + 0.5 * (p - pts[0]) for p in pts[1:]]
                vals = [vals[0]] + [f(p) for p in pts[1:]]
    i = int(np.argmin(vals))
    return pts[i], vals[i]


def levenberg_marquardt(r: Callable[[np.ndarray], np.ndarray], x0: np.ndarray, iters: int = 60,
                        h: float = 1e-4) -> tuple[np.ndarray, float]:
    """Minimise ``sum(r(x)**2)`` from ``x0``: damped Gauss-Newton with a forward-difference
    Jacobian (step ``h``). Returns the best point and its cost."""
    x = np.asarray(x0, float)
    rx = r(x)
    cost, lam = float(rx @ rx), 1e-2
    for _ in range(iters):
        J = np.empty((len(rx), len(x)))
        for i in range(len(x)):
            xp = x.copy()
            xp[i] += h
            J[:, i] = (r(xp) - rx) / h
        g, A = J.T @ rx, J.T @ J
        while lam < 1e10:
            step = np.linalg.solve(A + lam * np.diag(np.diag(A) + 1e-12), -g)
            rn = r(x + step)
            cn = float(rn @ rn)
            if cn < cost:
                done = cost - cn < 1e-10 * (1.0 + cost)
                x, rx, cost, lam = x + step, rn, cn, max(lam / 3.0, 1e-9)
                break
            lam *= 4.0
        else:
            break
        if done:
            break
    return x, cost


def optimise(calib: Calibration, names: Sequence[str],
             residuals: Callable[[Calibration], np.ndarray], restarts: int = 6,
             seed: int = 0) -> Calibration:
    """Bounded least-log-squares fit of the factors ``names``, starting from ``calib``'s values.

    From the current values, the middle of every range and ``restarts`` seeded random points
    (deterministic), Nelder-Mead finds a basin and Levenberg-Marquardt descends it; the best
    result is polished once more by Nelder-Mead. Several starts because the losses of coupled
    overheads have more than one basin; seeded so that a fit is reproducible to the last digit."""
    params = [PARAMS[n] for n in names]
    x0 = np.array([to_unit(p, get_param(calib, p.name)) for p in params])

    def at(x) -> Calibration:
        values = {p.name: from_unit(p, xi) for p, xi in zip(params, x, strict=True)}
        return set_params(calib, values)

    n_rows = len(residuals(calib))

    def res(x):
        try:
            return np.asarray(residuals(at(x)), float)
        except ValueError:  # a combination the Calibration validator rejects
            return np.full(n_rows, REJECTED_RESIDUAL)

    def loss(x):
        return float(np.sum(res(x) ** 2))

    rng = np.random.default_rng(seed)
    starts = [x0, np.zeros_like(x0)] + [rng.uniform(-2.5, 2.5, len(x0)) for _ in range(restarts)]
    best_x, best = x0, loss(x0)
    for s in starts:
        x, _ = nelder_mead(loss, s, iters=300)
        x, v = levenberg_marquardt(res, x)
        if v < best:
            best_x, best = x, v
    best_x, _ = nelder_mead(loss, best_x, step=0.2)
    return at(best_x)
