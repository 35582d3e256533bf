"""The result of a run: raw records in, pandas frames out, each built once on first use."""

from __future__ import annotations

from dataclasses import replace
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from ..engine.records import Records
from ..physics.datacenter import rack_for
from ..physics.power import racks_under_budget
from ..scenario import Scenario
from .attribution import attribute, shares
from .columns import glossary_text
from .economics import FleetEnergy, chip_hour_usd
from .failures import availability, failures_frame, replicas_down
from .pools import pools_frame
from .replicas import ReplicaHardware, replicas_frame
from .requests import requests_frame
from .summary import summary_frame
from .timeline import kv_token_seconds, timeline_frame
from .warnings import run_warnings


class Result:
    """The outcome of one simulation, as four frames (pandas DataFrames):

    - ``summary``: one row per workload and one for ``all``: counts, throughput, latency
      percentiles, SLO attainment and verdict, cost and energy; the figures a study compares.
    - ``requests``: one row per request: times, latencies, lengths, replica, final status.
    - ``replicas``: one row per replica: stepping time, MFU, MBU and mean KV use (time-weighted
      over the run), peak KV use, tokens, steps, energy.
    - ``timeline``: cluster-wide time bins: output and prompt tokens/s, queue depth, batch size,
      KV use, stepping share, power.

    :meth:`breakdown` says where a decode step's time goes. Every column's unit, definition and
    better direction is in the column registry, :data:`maiasim.results.columns.COLUMNS` (look one
    up with ``maiasim.results.columns.column(frame, name)``).

    The frames are built on first use and cached; each property returns a copy, so a caller's
    edit never reaches a later computation.
    """

    def __init__(self, scenario: Scenario, records: Records, draw: dict | None = None):
        """``draw``: price, power and PUE figures drawn from their catalog ranges (uncertainty
        bands, :mod:`maiasim.studies.uncertainty`); None for the catalog's values."""
        self.scenario = scenario
        self.records = records
        self.duration_s = float(records.end_s)
        # the pools' physics, read once, here, from the resolved scenario the engine ran:
        # the frames take what they need from _hw; a draw re-resolves each pool's racks
        builds = records.fleet.pools
        if draw is not None:
            builds = tuple(replace(b, rack=rack_for(b.pool.chip_name, b.pool.chip_spec(),
                                                     scenario.datacenter, draw))
                           for b in builds)
        self.builds = builds
        self._draw = draw
        self._hw = ReplicaHardware.of(self.builds)

    @property
    def step_model(self):
        """The step model of a single-pool run's replicas (a fleet: ``builds[i].step``)."""
        return self.builds[self._only()].step

    @property
    def memory_plan(self):
        """The memory plan of a single-pool run's replicas (a fleet: ``builds[i].memory``)."""
        return self.builds[self._only()].memory

    @property
    def rack(self):
        """A single-pool run's racks, power model and PUE (a fleet: ``builds[i].rack``)."""
        return self.builds[self._only()].rack

    @cached_property
    def _pool_energies(self) -> list[FleetEnergy]:
        """Each pool's energy at the chip, rack and wall, and its racks."""
        return [FleetEnergy.of(b.rack, b.pool.chips, self.duration_s, float(e))
                for b, e in zip(self.builds, self._pool_energy, strict=True)]

    @cached_property
    def energy(self) -> FleetEnergy:
        """The run's energy at the chip, rack and wall, and the racks it occupies (all pools)."""
        return FleetEnergy.total(self._pool_energies)

    @cached_property
    def _prices(self) -> list[tuple[float, str, str]]:
        """Each pool's (USD per chip-hour, basis, source); ownership at the power it measured."""
        return [chip_hour_usd(b.pool.cost, b.pool.chip_name, b.chip, rack=b.rack, draw=self._draw,
                              avg_power_w=e.avg_it_power_w_per_chip(b.pool.chips,
                                                                    self.duration_s))
                for b, e in zip(self.builds, self._pool_energies, strict=True)]

    @cached_property
    def _pool_cost(self) -> np.ndarray:
        """Each pool's cost over the run (USD; NaN for an unpriced pool)."""
        return np.array([b.pool.chips * p[0] * self.duration_s / 3600.0
                         for b, p in zip(self.builds, self._prices, strict=True)])

    @property
    def chip_hour_usd(self) -> float:
        """Price per chip-hour: the pool's, or for a fleet the mean over its chips."""
        if len(self.builds) == 1:
            return self._prices[0][0]
        return float(np.sum(self._pool_cost)) * 3600.0 / max(self.duration_s, 1e-12) / \
            self.scenario.chips

    @property
    def cost_basis(self) -> str:
        """``rental`` or ``ownership`` (``mixed`` for a fleet whose pools differ)."""
        bases = {p[1] for p in self._prices}
        return bases.pop() if len(bases) == 1 else "mixed"

    @property
    def cost_source(self) -> str:
        """Where the price came from (a fleet: per pool, in :attr:`pools`)."""
        return self._prices[0][2] if len(self.builds) == 1 else "per pool (Result.pools)"

    def oversubscription(self, facility_w: float) -> dict[str, float]:
        """Power oversubscription what-if (single pool): racks that fit under a facility budget
        of ``facility_w`` IT watts when provisioned at their rated peak (``rack_kw``) versus at
        the peak the run measured (the timeline's highest bin of rack power, per tray in use,
        times the trays of a full rack), and the share more the measured peak admits (POLCA's
        argument, HF §4d)."""
        rack = self.rack
        trays = max(rack.trays(self.scenario.chips), 1)
        measured = float(self._timeline.power_rack_w.max()) / trays * rack.trays_per_rack
        rated = rack.rack_peak_w()
        rated_n = racks_under_budget(facility_w, rated)
        measured_n = racks_under_budget(facility_w, measured)
        return {"rack_w_rated": rated, "rack_w_measured_peak": measured,
                "racks_at_rated": rated_n, "racks_at_measured_peak": measured_n,
                "more_racks_frac": measured_n / rated_n - 1.0 if rated_n else float("nan")}

    def _only(self) -> int:
        self.scenario.pool()  # a clear error for a fleet of several pools
        return 0

    def __repr__(self) -> str:
        s = self._summary.loc[self._summary.workload == "all"].iloc[0]
        return (f"<Result {self.scenario.name}: {int(s.requests)} requests, "
                f"{int(s.completed)} completed, {s.output_tok_s:,.0f} output tok/s, "
                f"TTFT p99 {s.ttft_p99_s:.3g} s, TPOT p99 {s.tpot_p99_s:.3g} s>")

    # ---- the four frames: copies, so that a caller's edit never reaches a later computation -----
    @property
    def requests(self) -> pd.DataFrame:
        """One row per request: times, lengths, replica, preemptions, final status and reason."""
        return self._requests.copy()

    @property
    def replicas(self) -> pd.DataFrame:
        """One row per replica: stepping time, MFU, MBU, mean and peak KV use, tokens, steps,
        energy."""
        return self._replicas.copy()

    @property
    def timeline(self) -> pd.DataFrame:
        """Cluster-wide time bins: tokens/s, queue depth, batch size, KV use, stepping, power."""
        return self._timeline.copy()

    @property
    def summary(self) -> pd.DataFrame:
        """One row per workload and one for ``all``: counts, percentiles, SLO, cost, energy."""
        return self._summary.copy()

    @property
    def pools(self) -> pd.DataFrame:
        """One row per pool: chip, model, role, size, price and cost, tokens, utilisation,
        energy and saturated replicas."""
        return self._pools.copy()

    @property
    def failures(self) -> pd.DataFrame:
        """One row per replica taken down by a failure or planned drain: time, pool, replica,
        component and the end of its repair (empty without ``failures``)."""
        return failures_frame(self.records, [b.pool.name for b in self.builds])

    @property
    def availability(self) -> float:
        """Share of the fleet's replica-time spent serving (1.0 without failures)."""
        return availability(self.records, self._hw.replicas, self.duration_s)

    def summary_by(self, by: str) -> pd.DataFrame:
        """The summary with one row per ``tenant`` or ``slo_class`` (or ``workload``) and one for
        ``all``; cost and energy are those attributed to each group's requests."""
        if by not in ("workload", "tenant", "slo_class"):
            raise ValueError(f"summary_by: {by!r} is not workload, tenant or slo_class")
        if by == "workload":
            return self.summary
        return summary_frame(self._requests, self.scenario.workload, duration_s=self.duration_s,
                             cost_usd=self._cost_usd, request_energy_j=self._request_energy_j,
                             fleet=self._fleet_terms, by=by, availability=self.availability)

    def cost_by(self, by: str = "tenant") -> pd.DataFrame:
        """Attributed cost, tokens and energy per ``tenant``, ``slo_class``, ``workload`` or
        ``pool`` (requests' shares of every pool's cost; the ``cost_usd`` column sums to the
        fleet's cost)."""
        req = self._requests.assign(energy_j=self._request_energy_j)
        g = req.groupby(by, observed=True)
        return pd.DataFrame({
            "requests": g.size(), "output_tokens": g.output_tokens_generated.sum(),
            "prompt_tokens": g.prompt_tokens.sum(), "cost_usd": g.cost_usd.sum(min_count=1),
            "energy_j": g.energy_j.sum()}).reset_index()

    @property
    def warnings(self) -> list[str]:
        """One-line warnings about the run that the summary would hide (see
        :mod:`maiasim.results.warnings`), e.g. arrivals that ended long before the horizon."""
        return run_warnings(self.scenario, self._requests, self.duration_s, self._replicas)

    def with_summary(self, summary: pd.DataFrame) -> Result:
        """This result with ``summary`` replaced (e.g. by one with uncertainty bands)."""
        self.__dict__["_summary"] = summary.copy()
        return self

    # ---- built once, on first use --------------------------------------------------------------
    @cached_property
    def _requests(self) -> pd.DataFrame:
        cost = attribute(self._shares, self._pool_cost)
        return requests_frame(self.records.requests, self.scenario.workload,
                              [b.pool.name for b in self.builds], cost)

    @cached_property
    def _replicas(self) -> pd.DataFrame:
        pool = pd.Categorical.from_codes(self.records.pool_of_replica.astype(int),
                                         categories=[b.pool.name for b in self.builds])
        return replicas_frame(self.records.replicas, self._hw, self.duration_s,
                              self.records.requests, self.scenario.horizon_s, pool,
                              kv_token_seconds(self.records, self._hw.replicas))

    @cached_property
    def _timeline(self) -> pd.DataFrame:
        tl = timeline_frame(self.records, self._hw, self.duration_s,
                            self.scenario.engine.timeline_bin_s)
        tl["replicas_down"] = replicas_down(self.records, tl.time_s.to_numpy(), self.duration_s)
        return tl

    @cached_property
    def _pools(self) -> pd.DataFrame:
        return pools_frame(self.builds, self._replicas, self._requests, self._pool_cost,
                           self._prices)

    @cached_property
    def _pool_energy(self) -> np.ndarray:
        codes = self.records.pool_of_replica
        return np.bincount(codes, self._replicas.energy_j.to_numpy(), len(self.builds))

    @cached_property
    def _request_energy_j(self) -> np.ndarray:
        return attribute(self._shares, self._pool_energy)

    @cached_property
    def _shares(self) -> np.ndarray:
        """Each request's share of each pool (:func:`.attribution.shares`)."""
        default = self.builds[0].pool.model_name
        models = np.array([w.model or default for w in self.scenario.workload], dtype=object)
        return shares(self.records, self.builds,
                      models[self.records.requests.workload.astype(int)])

    @property
    def _cost_usd(self) -> float:
        return float(np.sum(self._pool_cost))

    @property
    def _energy_j(self) -> float:
        return float(self._pool_energy.sum())

    @cached_property
    def _request_rack_j(self) -> np.ndarray:
        return attribute(self._shares, np.array([e.rack_j for e in self._pool_energies]))

    @cached_property
    def _fleet_terms(self) -> dict:
        """What the summary needs beyond the requests: the basis, price and energy terms."""
        return {"cost_basis": self.cost_basis, "usd_per_chip_hour": self.chip_hour_usd,
                "energy": self.energy, "request_rack_j": self._request_rack_j}

    @cached_property
    def _summary(self) -> pd.DataFrame:
        return summary_frame(self._requests, self.scenario.workload, duration_s=self.duration_s,
                             cost_usd=self._cost_usd, request_energy_j=self._request_energy_j,
                             fleet=self._fleet_terms, availability=self.availability)

    # ---- convenience ---------------------------------------------------------------------------
    def breakdown(self, pool: str | None = None) -> pd.DataFrame:
        """Per-operator time of a representative decode step (the mean decode batch of the run),
        to show why a configuration is as fast as it is. The last row, ``overhead``, is the
        per-iteration cost outside the operators (launch, scheduling, per-token and per-sequence
        overheads), so ``time_s`` sums to the step time and ``share`` to 1. ``df.attrs`` holds the
        step's ``batch`` (sequences), ``context_tokens`` (each), ``step_s`` and ``pool``.

        ``pool``: which pool's step (default: the only one; in a fleet, the pool that produced the
        most output tokens)."""
        names = [b.pool.name for b in self.builds]
        if pool is None:
            i = int(np.argmax(self._pools.output_tokens.to_numpy())) if len(names) > 1 else 0
        elif pool in names:
            i = names.index(pool)
        else:
            raise ValueError(f"breakdown: no pool {pool!r} (pools: {', '.join(names)})")
        step = self.builds[i].step
        mine = self.records.pool_of_replica == i
        rp = self.records.replicas
        req = self._requests
        done = req[(req.status == "completed") & (req.pool == names[i])]
        steps = max(int(rp.steps[mine].sum()), 1)
        batch = max(1, min(int(round(rp.out_tokens[mine].sum() / steps)), step.max_tokens))
        ctx = int(done.prompt_tokens.mean() + done.output_tokens.mean() / 2) if len(done) else 1024
        b = step.breakdown([], [ctx] * batch)
        ops = {**b.ops, "overhead": b.overhead_s}  # their sum is the step time (b.total_s)
        df = pd.DataFrame({"op": list(ops), "time_s": list(ops.values())})
        df["share"] = df.time_s / df.time_s.sum()
        df.attrs.update(batch=batch, context_tokens=ctx, step_s=float(df.time_s.sum()),
                        pool=names[i])
        return df

    def to_csv(self, directory) -> list:
        """Write the frames (summary, requests, replicas, timeline, pools; failures when on) as
        CSV files; returns the paths."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        paths = []
        for name in ("summary", "requests", "replicas", "timeline", "pools"):
            p = d / f"{name}.csv"
            getattr(self, f"_{name}").to_csv(p, index=False)
            paths.append(p)
        if self.records.failures is not None:  # with failures on
            p = d / "failures.csv"
            self.failures.to_csv(p, index=False)
            paths.append(p)
        return paths


# help(ms.Result) lists every column, from the registry (the one place a column is defined)
Result.__doc__ = f"{Result.__doc__}\n{glossary_text()}\n"
