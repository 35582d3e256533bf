"""Capacity planning for a fleet: how many replicas in each pool of a fleet template.

    from maiasim.studies.fleet_plan import plan_fleet
    df = plan_fleet("scenarios/fleet-llama70b-disaggregated.yaml")

The template is a fleet scenario (``fleet.pools[]``): its chips, models, roles and parallelism are
kept; only each pool's replica count is searched, for the cheapest fleet whose every workload (so
every SLO class) meets its SLO (:func:`maiasim.results.slo.verdict`). The search is greedy and
simulates every fleet it judges:

1. **Grow.** From one replica per pool, while the SLOs fail, try doubling each pool in turn (and
   all pools at once, for when every pool is a bottleneck) and keep the doubling that brings the
   fleet closest to its SLOs (fewest requests not completed,
   then the smallest worst p99 over its target, then the lowest cost per hour). It gives up when no
   doubling helps or a pool would pass ``max_replicas``.
2. **Shrink.** Then, dearest pool first (price per replica-hour), a binary search for the fewest
   replicas of that pool that still meet the SLOs with the others fixed.
3. **Verify.** The answer is simulated afresh (``verified``), and so is each pool with one replica
   fewer (``fewer_meets_slo`` per pool, False for a minimal plan).

Greedy is not exhaustive: it assumes more replicas in a pool never hurt, and it can miss a cheaper
mix that needs two pools changed at once. Every fleet it reports was simulated.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import pandas as pd

from ..api import simulate
from ..build import build_fleet
from ..errors import ScenarioError
from ..results.slo import has_targets, result_verdict
from ..scenario import Scenario, load_scenario
from ..scenario.limits import MAX_REPLICAS
from .plan import PLAN_METRICS, Probe, probe_result

__all__ = ["plan_fleet"]

#: the columns of :func:`plan_fleet`'s frame: one row per pool, then a ``fleet`` row
FLEET_PLAN_COLUMNS = ("pool", "role", "chip", "model", "tensor_parallel", "replicas", "chips",
                      "usd_per_chip_hour", "cost_per_hour_usd", "feasible", "reason",
                      *PLAN_METRICS, "verified", "fewer_meets_slo", "simulations")


class _FleetSearch:
    def __init__(self, sc: Scenario, max_replicas: int, progress):
        self.sc, self.max = sc, max_replicas
        self.probes: dict[tuple[int, ...], Probe] = {}
        self.sims = 0
        self.progress = progress
        f = build_fleet(sc)  # raises DoesNotFit / ScenarioError before any simulation
        self.replica_hour = [b.chip_hour_usd * b.parallel.chips for b in f.pools]

    def fleet(self, sizes: tuple[int, ...]) -> Scenario:
        over: dict[str, Any] = {}
        for i, n in enumerate(sizes):
            over[f"fleet.pools.{i}.deployment.replicas"] = int(n)
            over[f"fleet.pools.{i}.hardware.chips"] = None
        return self.sc.with_overrides(over)

    def probe(self, sizes: tuple[int, ...]) -> Probe:
        if sizes not in self.probes:
            self.sims += 1
            self.probes[sizes] = probe_result(simulate(self.fleet(sizes)))
            if self.progress is not None:
                self.progress.update(1)
        return self.probes[sizes]

    def cost(self, sizes: tuple[int, ...]) -> float:
        c = sum(n * p for n, p in zip(sizes, self.replica_hour, strict=True))
        return c if c == c else math.inf

    def grow(self) -> tuple[tuple[int, ...] | None, str | None]:
        sizes = tuple(1 for _ in self.replica_hour)
        while not self.probe(sizes).met:
            cur = self.probe(sizes)
            tries = []
            grown = [sizes[:i] + (2 * n,) + sizes[i + 1:] for i, n in enumerate(sizes)
                     if 2 * n <= self.max]
            if len(sizes) > 1 and all(2 * n <= self.max for n in sizes):
                grown.append(tuple(2 * n for n in sizes))  # when every pool is a bottleneck
            for s in grown:
                p = self.probe(s)
                tries.append(((p.incomplete, p.excess, self.cost(s)), s))
            if not tries:
                return None, f"SLO not met with max_replicas={self.max} per pool: {cur.why}"
            (incomplete, excess, _), best = min(tries)
            if (incomplete, excess) >= (cur.incomplete, cur.excess) and \
                    not self.probe(best).met:
                return None, f"SLO not met: doubling any pool did not help ({cur.why})"
            sizes = best
        return sizes, None

    def shrink(self, sizes: tuple[int, ...]) -> tuple[int, ...]:
        order = sorted(range(len(sizes)), key=lambda i: -self.replica_hour[i]
                       if self.replica_hour[i] == self.replica_hour[i] else 0.0)
        for i in order:
            lo, hi = 0, sizes[i]  # lo fails (or is 0), hi meets
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if self.probe(sizes[:i] + (mid,) + sizes[i + 1:]).met:
                    hi = mid
                else:
                    lo = mid
            sizes = sizes[:i] + (hi,) + sizes[i + 1:]
        return sizes


def plan_fleet(scenario: Scenario | str | os.PathLike, *, max_replicas: int = 256,
               progress: bool = False) -> pd.DataFrame:
    """The cheapest replica count per pool of a fleet template that meets every SLO; one row per
    pool and a last ``fleet`` row with the fleet's totals, latency and cost figures (see the module
    docstring for the search and its limits)."""
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    if sc.fleet is None:
        raise ScenarioError("plan_fleet needs a fleet scenario (fleet.pools[]); for one pool use "
                            "maiasim.studies.plan.plan")
    if not any(has_targets(w.slo) for w in sc.workload):
        raise ScenarioError("plan needs at least one workload with an slo (ttft_p99_s, "
                            "tpot_p99_s or e2e_p99_s)")
    if not 1 <= int(max_replicas) <= MAX_REPLICAS:
        raise ScenarioError(f"max_replicas must be in [1, {MAX_REPLICAS:_}], got {max_replicas}")
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(desc=f"plan {sc.name}", unit="sim", leave=False)
    try:
        s = _FleetSearch(sc, int(max_replicas), bar)
        sizes, reason = s.grow()
        res = fewer = None
        if sizes is not None:
            sizes = s.shrink(sizes)
            res = simulate(s.fleet(sizes))  # the verification run
            s.sims += 1
            fewer = [n > 1 and s.probe(sizes[:i] + (n - 1,) + sizes[i + 1:]).met
                     for i, n in enumerate(sizes)]
    finally:
        if bar is not None:
            bar.close()
    return _frame(sc, s, sizes, reason, res, fewer)


def _frame(sc, s: _FleetSearch, sizes, reason, res, fewer) -> pd.DataFrame:
    rows = []
    for i, p in enumerate(sc.pools):
        n = sizes[i] if sizes else np.nan
        rows.append({"pool": p.name, "role": p.role, "chip": p.chip_name, "model": p.model_name,
                     "tensor_parallel": p.deployment.tensor_parallel, "replicas": n,
                     "chips": n * p.deployment.chips_per_replica if sizes else np.nan,
                     "usd_per_chip_hour": s.replica_hour[i] / p.deployment.chips_per_replica,
                     "cost_per_hour_usd": n * s.replica_hour[i] if sizes else np.nan,
                     "fewer_meets_slo": bool(fewer[i]) if fewer else None})
    total: dict[str, Any] = {"pool": "fleet", "simulations": s.sims, "feasible": False,
                             "reason": reason}
    if res is not None:
        met, why = result_verdict(res)
        allrow = res.summary.loc[res.summary.workload == "all"].iloc[0]
        total.update({"replicas": sum(sizes), "chips": res.scenario.chips, "feasible": bool(met),
                      "verified": bool(met), "reason": None if met else f"verification run "
                      f"failed: {why}", "cost_per_hour_usd": s.cost(sizes),
                      **{m: float(allrow[m]) for m in PLAN_METRICS}})
    rows.append(total)
    df = pd.DataFrame(rows).reindex(columns=list(FLEET_PLAN_COLUMNS))
    for c in ("replicas", "chips", "tensor_parallel", "simulations"):
        df[c] = df[c].astype("Int64")
    return df
