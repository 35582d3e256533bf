"""Capacity planning: the fewest replicas per chip and tensor-parallel degree that meet every SLO.

    from maiasim.studies.plan import plan
    df = plan("scenarios/maia200-llama70b-conv.yaml", chips=["maia200", "h100", "gb200"],
              tp=[1, 2, 4, 8])

For each (chip, TP) the planner keeps the scenario's load, model, precision, scheduler and pipeline
parallelism, and searches the replica count: 1, 2, 4, ... until the SLOs hold (or ``max_replicas``
fails), then a binary search between the last failing and the first passing count. "The SLOs hold"
is :func:`maiasim.results.slo.verdict`: every workload's row in :attr:`Result.summary` has
``slo_met`` True (its p99 targets hold) and none of its requests was rejected, dropped or left in
flight; a workload without targets must complete all its requests. The chosen count is then
re-simulated (``verified``) and so is one replica fewer (``fewer_meets_slo``, False for a minimal
plan). The search assumes that more replicas never hurt; ``fewer_meets_slo`` True would flag a case
where that failed.

The upward probe stops early once more replicas stopped helping: the smaller fleet had no queueing
(requests joined a batch as they came) and doubling it did not bring the failing p99s within reach,
as with a TTFT target below one request's own prefill time. That (chip, TP) is then infeasible, "SLO
not met even with an idle replica", instead of growing fleets up to ``max_replicas`` (itself at most
:data:`MAX_REPLICAS`, the schema's cap on ``deployment.replicas``: a search that needs more is
hopeless anyway, since each probe simulates the whole fleet and the load that would need it runs
into ``engine.max_requests`` first).

Feasible plans are ranked by cost per hour (``chips x chip_hour_usd``), then by tokens per dollar. A
chip without a price (neither the scenario nor the catalog gives one) has NaN cost and ranks after
every priced plan. For the scenario's own chip the scenario's ``cost``, ``chip_overrides`` and
``calibration`` apply; other chips use their catalog price and calibration, because a price or a
what-if written for one chip says nothing about another.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from .. import catalog
from ..api import simulate
from ..build import build
from ..errors import ScenarioError
from ..plot import pareto
from ..results.slo import TARGETS, has_targets, p99_targets_met, result_verdict
from ..scenario import Scenario, load_scenario
from ..scenario.limits import MAX_REPLICAS
from .executors import error_text, run_tasks
from .spares import enough_up, replica_unavailability, spares_for

#: a fleet "has no queueing" when requests were left waiting for a batch slot in at most this share
#: of its replicas' busy time
QUEUED_SHARE = 0.05

#: how much of its last gain a doubling may still bring, at most, once queueing is gone: the gain
#: from removing batch interference shrinks as the load per replica halves (by half if it is linear
#: in the load, so the rest would add up to one more such gain; 3 leaves room for slower decay)
REMAINING_GAINS = 3.0

#: the summary figures (of the ``all`` row) a plan row reports for the chosen fleet
PLAN_METRICS = ("output_tok_s", "ttft_p99_s", "tpot_p99_s", "e2e_p99_s", "slo_attainment",
                "output_tokens_per_usd", "usd_per_m_output_tok", "output_tokens_per_joule")

#: the columns of :func:`plan`'s frame, in order
PLAN_COLUMNS = ("rank", "chip", "tensor_parallel", "pipeline_parallel", "replicas", "chips",
                "spares", "enough_up", "feasible", "reason", "cost_basis", "chip_hour_usd",
                "cost_per_hour_usd",
                "cost_source",
                *PLAN_METRICS, "verified", "fewer_meets_slo", "fewer_fails_on", "simulations")


# ---- how far from the SLO ----------------------------------------------------------------------


class Probe(NamedTuple):
    """One search simulation: its verdict, and how far from the SLO it is."""
    met: bool
    why: str
    excess: float  # worst p99 over its target across the workloads (inf: none completed)
    incomplete: int  # requests not completed
    queued: float  # share of busy replica time with requests left waiting for a batch slot


def probe_result(res) -> Probe:
    met, why = result_verdict(res)
    summ = res.summary
    slos = {w.name: w.slo for w in res.scenario.workload}
    excess = 0.0
    for _, r in summ.loc[summ.workload != "all"].iterrows():
        for key in TARGETS:
            target = getattr(slos[r.workload], key)
            if target is None or (key == "tpot_p99_s" and math.isnan(r[key])):
                continue  # no target; or only single-token requests, which have no TPOT
            value = r[key] if not math.isnan(r[key]) else math.inf
            excess = max(excess, value / target if target > 0 else math.inf)
    allrow = summ.loc[summ.workload == "all"].iloc[0]
    incomplete = int(allrow.requests - allrow.completed)
    return Probe(met, why, excess, incomplete, _queued_share(res))


def _queued_share(res) -> float:
    """Share of busy replica time in which a request waited for a batch slot (1 if unknown)."""
    steps = getattr(getattr(res, "records", None), "steps", None)
    if steps is None:
        return 1.0
    a = steps.arrays()
    busy = a["end_s"] - a["start_s"]
    total = float(busy.sum())
    return float(busy[a["waiting"] > 0].sum()) / total if total > 0 else 0.0


def _more_may_help(prev: Probe, cur: Probe) -> bool:
    """Could a fleet larger than ``cur``'s meet the SLO, given that ``prev``'s was half as large?

    With queueing at ``prev``, yes: relieving a queue can help suddenly. Without, more replicas
    only thin the batches, whose cost shrinks with the load, so the failing p99s can fall by a few
    more times the last doubling's gain at most, and requests that were not completed (rejected as
    too large) stay so unless their number fell."""
    if prev.queued > QUEUED_SHARE or cur.incomplete < prev.incomplete:
        return True
    if cur.excess <= 1.0:  # the p99 targets hold: what fails are the requests not completed
        return False
    gain = prev.excess - cur.excess  # nan when both are inf
    return bool(cur.excess - REMAINING_GAINS * gain <= 1.0)


# ---- one (chip, TP) ------------------------------------------------------------------------------


def at_p95(res):
    """Planning under uncertainty: when the scenario draws ``uncertainty.samples`` (calibration,
    prices and, with failures on, failure times), judge each latency at the p95 of the draws
    (the worse of it and the nominal run), so the plan is the fleet that meets the SLO at the
    p95 of the draws. Without draws, the result as it is."""
    if not getattr(res, "uncertainty_samples", 0):
        return res
    s = res.summary
    for c in [c for c in s.columns if c.endswith("_s") and f"{c}_p95" in s.columns]:
        s[c] = np.fmax(s[c].to_numpy(float), s[f"{c}_p95"].to_numpy(float))
    slos = {w.name: w.slo for w in res.scenario.workload}
    s["slo_met"] = [p99_targets_met(r, slos[r.workload]) if r.workload in slos else r.slo_met
                    for _, r in s.iterrows()]
    return res.with_summary(s)


def variant(sc: Scenario, chip: str, tp: int, replicas: int = 1,
            price: float | None = None) -> Scenario:
    """The scenario on ``replicas`` replicas of ``chip`` at tensor parallelism ``tp`` (chips
    derived): one candidate fleet of the search.

    ``price`` (USD per chip-hour) replaces whatever cost the scenario or catalog gives. Every
    chip is priced on the scenario's cost basis (like with like); another chip drops the
    scenario's figures, which were written for its own chip."""
    over: dict[str, Any] = {"hardware.chips": None, "deployment.replicas": int(replicas),
                            "deployment.tensor_parallel": int(tp)}
    basis = sc.cost.effective_basis
    if chip != sc.chip_name:
        over.update({"hardware.chip": chip, "hardware.chip_overrides": {},
                     "hardware.calibration": {},
                     "cost": {"basis": basis, "chip_hour_usd": None, "ownership": {}}})
    if price is not None:
        over["cost"] = {"basis": basis, "chip_hour_usd": float(price), "ownership": {}}
    return sc.with_overrides(over)


class _Search:
    """The replica search of one (chip, TP): probes of the fleet sizes tried, each simulated once,
    and the number of simulations run (a plan row reports it)."""

    def __init__(self, base: Scenario):
        self.base = base
        self.probes: dict[int, Probe] = {}
        self.sims = 0

    def fleet(self, n: int) -> Scenario:
        """The candidate fleet of ``n`` replicas."""
        return self.base.with_overrides({"deployment.replicas": n})

    def meets(self, n: int) -> bool:
        """Whether ``n`` replicas meet every SLO (simulated the first time it is asked)."""
        if n not in self.probes:
            self.sims += 1
            self.probes[n] = probe_result(at_p95(simulate(self.fleet(n))))
        return self.probes[n].met

    def smallest(self, max_replicas: int) -> tuple[int | None, str | None]:
        """(fewest replicas that meet the SLOs, None) or (None, why the search gave up): doubling
        from 1 until the SLOs hold, then a binary search between the last two counts."""
        lo, n = 0, 1
        while not self.meets(n):  # exponential probe
            if n >= max_replicas:
                return None, (f"SLO not met with max_replicas={max_replicas}: "
                              f"{self.probes[n].why}")
            if lo and not _more_may_help(self.probes[lo], self.probes[n]):
                return None, (f"SLO not met even with an idle replica (no queueing at {lo} "
                              f"replica{'s' * (lo > 1)}; {n} replicas did not bring it within "
                              f"reach): {self.probes[n].why}")
            lo = n
            n = min(2 * n, max_replicas)
        hi = n
        while hi - lo > 1:  # binary search: lo fails (or is 0), hi meets
            mid = (lo + hi) // 2
            if self.meets(mid):
                hi = mid
            else:
                lo = mid
        return hi, None


def _plan_one(task: tuple) -> dict[str, Any]:
    """Search one (chip, TP) and verify its answer. Module-level so process pools can pickle it;
    never raises: a (chip, TP) that cannot be planned is a row with a ``reason``."""
    sc, chip, tp, max_replicas, price, spares, availability = task
    row: dict[str, Any] = {"chip": chip, "tensor_parallel": int(tp),
                           "pipeline_parallel": sc.deployment.pipeline_parallel,
                           "replicas": np.nan, "chips": np.nan, "feasible": False, "reason": None}
    try:
        base = variant(sc, chip, tp, 1, price)
        build(base)  # instant: raises DoesNotFit when the weights do not fit
    except Exception as e:
        row["reason"] = error_text(e)
        row["simulations"] = 0
        return row
    search = _Search(base)
    try:
        hi, reason = search.smallest(max_replicas)
        if hi is None:
            row["reason"] = reason
            row["simulations"] = search.sims
            return row
        b = build(base)
        u = replica_unavailability(sc.failures, b.parallel.chips, b.chip.chips_per_node)
        k = max(spares, spares_for(hi, u, availability) if availability is not None else 0)
        sc_n = search.fleet(hi + k)  # N + k: the fleet to buy, verified with its spares
        res = at_p95(simulate(sc_n))  # a fresh run of the chosen plan: the verification
        search.sims += 1
        met, why = result_verdict(res)
        fewer_ok, fewer_why = False, "0 replicas serve nothing" if hi == 1 else ""
        if hi > 1:
            search.sims += 1
            fewer_ok, fewer_why = result_verdict(at_p95(simulate(search.fleet(hi - 1))))
    except Exception as e:
        row["reason"] = error_text(e)
        row["simulations"] = search.sims
        return row

    allrow = res.summary.loc[res.summary.workload == "all"].iloc[0]
    row.update({
        "replicas": hi + k, "chips": sc_n.chips, "spares": k,
        "enough_up": enough_up(hi, k, u), "feasible": bool(met),
        "reason": None if met else f"verification run failed: {why}",
        "chip_hour_usd": res.chip_hour_usd,
        "cost_basis": res.cost_basis,
        "cost_source": "plan prices (--price)" if price is not None else res.cost_source,
        "cost_per_hour_usd": sc_n.chips * res.chip_hour_usd,
    })
    for m in PLAN_METRICS:
        row[m] = float(allrow[m])
    row.update({"verified": bool(met), "fewer_meets_slo": bool(fewer_ok),
                "fewer_fails_on": fewer_why or None, "simulations": search.sims})
    return row


def _crash_row(task: tuple, why: str) -> dict[str, Any]:
    """The infeasible row of a (chip, TP) whose search killed its worker process (memory?)."""
    sc, chip, tp = task[:3]
    return {"chip": chip, "tensor_parallel": int(tp),
            "pipeline_parallel": sc.deployment.pipeline_parallel, "replicas": np.nan,
            "chips": np.nan, "feasible": False, "reason": why, "simulations": np.nan}


# ---- the plan ------------------------------------------------------------------------------------


def plan(scenario: Scenario | str | os.PathLike, chips: Sequence[str] | None = None,
         tp: Sequence[int] | None = None, *, max_replicas: int = 512,
         prices: dict[str, float] | None = None, executor: str = "serial",
         max_workers: int | None = None, progress: bool = False, spares: int = 0,
         availability: float | None = None) -> pd.DataFrame:
    """Cheapest fleet per (chip, TP) that meets every workload's SLO at the scenario's load.

    ``chips`` default to the scenario's chip, ``tp`` to its tensor parallelism. Returns one row per
    (chip, TP), feasible plans first by ``rank`` (cost per hour, then tokens per dollar; NaN cost
    last), then the infeasible ones with a ``reason``. ``prices`` maps chip names to USD per
    chip-hour, replacing the scenario's or catalog's price for those chips. ``executor`` and
    ``max_workers`` are those of :func:`maiasim.studies.executors.run_tasks` (each (chip, TP)
    search is one task). ``spares`` adds that many replicas beyond the fewest that meet the SLOs
    (N+k); ``availability`` adds as many as needed for at least N to be up with that probability,
    from the scenario's failure rates (the published defaults when it has no ``failures``; see
    :mod:`.spares`); ``enough_up`` reports that probability. ``max_replicas`` (at most
    :data:`MAX_REPLICAS`) caps the search, which also stops once more replicas stopped helping.
    """
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    if not any(has_targets(w.slo) for w in sc.workload):
        raise ScenarioError("plan needs at least one workload with an slo (ttft_p99_s, "
                            "tpot_p99_s or e2e_p99_s)")
    chips = list(chips) if chips else [sc.chip_name]
    tps = [int(t) for t in tp] if tp else [sc.deployment.tensor_parallel]
    if not 1 <= int(max_replicas) <= MAX_REPLICAS:
        raise ScenarioError(f"max_replicas must be in [1, {MAX_REPLICAS:_}] (the schema's limit "
                            f"on deployment.replicas), got {max_replicas}")
    for c in chips:
        if c != sc.chip_name:
            try:
                catalog.chip(c)
            except ValueError as e:
                raise ScenarioError(str(e)) from None
    if any(t < 1 for t in tps):
        raise ScenarioError(f"tensor parallel degrees must be >= 1, got {tps}")
    prices = dict(prices or {})
    stray = sorted(set(prices) - set(chips))
    if stray:
        raise ScenarioError(f"prices given for chips not being planned: {stray}")
    if any(not (isinstance(v, int | float) and v >= 0) for v in prices.values()):
        raise ScenarioError(f"prices must be numbers >= 0 (USD per chip-hour), got {prices}")
    if not (isinstance(spares, int) and 0 <= spares <= MAX_REPLICAS):
        raise ScenarioError(f"spares must be an integer >= 0, got {spares!r}")
    if availability is not None and not 0 < availability < 1:
        raise ScenarioError(f"availability must be a probability in (0, 1), e.g. 0.999, got "
                            f"{availability!r}")
    tasks = [(sc, c, t, int(max_replicas), prices.get(c), spares, availability)
             for c in dict.fromkeys(chips) for t in dict.fromkeys(tps)]
    rows = run_tasks(_plan_one, tasks, executor=executor, max_workers=max_workers,
                     progress=progress, desc=f"plan {sc.name}", on_crash=_crash_row)
    return rank(pd.DataFrame(rows))


def rank(df: pd.DataFrame) -> pd.DataFrame:
    """Order plan rows so the first is the one to buy: feasible by cost per hour (NaN last), then
    tokens per dollar (descending); then the infeasible rest."""
    df = df.reindex(columns=[c for c in PLAN_COLUMNS if c != "rank"])
    feas = df[df.feasible.astype(bool)].copy()
    rest = df[~df.feasible.astype(bool)].copy()
    feas["_nan"] = feas.cost_per_hour_usd.isna()
    feas = feas.sort_values(["_nan", "cost_per_hour_usd", "output_tokens_per_usd"],
                            ascending=[True, True, False], kind="stable").drop(columns="_nan")
    feas.insert(0, "rank", np.arange(1, len(feas) + 1, dtype=float))
    rest.insert(0, "rank", np.nan)
    out = pd.concat([feas, rest], ignore_index=True) if len(rest) else feas.reset_index(drop=True)
    out["rank"] = out["rank"].astype("Int64")
    for c in ("replicas", "chips", "spares"):
        out[c] = out[c].astype("Int64")
    for c in ("verified", "fewer_meets_slo", "reason", "fewer_fails_on", "cost_source",
              "cost_basis"):
        out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out


def plot_plan(df: pd.DataFrame, path: str | os.PathLike | None = None,
              slo: dict[str, float] | None = None) -> Any:
    """The plan's Pareto figure (:func:`maiasim.plot.pareto`): cost per million output tokens
    against p99 TTFT, every chip shown (unpriced ones on their own band); ``slo`` may hold the
    ``ttft_p99_s`` target. Returns the matplotlib Figure (saved to ``path`` when given)."""
    return pareto(df, path, latency="ttft_p99_s", slo=(slo or {}).get("ttft_p99_s"))
