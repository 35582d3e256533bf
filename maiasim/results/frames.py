"""The result of a run: raw records in, pandas frames out, each built once on first use."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import pandas as pd

from ..engine.records import Records
from ..physics.datacenter import rack_for
from ..physics.power import racks_under_budget
from ..scenario import Scenario
from .economics import FleetEnergy, chip_hour_usd
from .replicas import ReplicaHardware, replicas_frame
from .requests import requests_frame
from .summary import summary_frame
from .timeline import timeline_frame
from .warnings import run_warnings


class Result:
    """The outcome of one simulation, as four frames (pandas DataFrames):

    - ``summary``: one row per workload and one for ``all``: counts, throughput, latency
      percentiles, SLO attainment and verdict, cost and energy; the figures a study compares.
    - ``requests``: one row per request: times, latencies, lengths, replica, final status.
    - ``replicas``: one row per replica: busy time, MFU, MBU, KV use, tokens, steps, energy.
    - ``timeline``: cluster-wide time bins: throughput, queue depth, batch size, KV use, busy
      share, power.

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
        self._draw = draw
        self.records = records
        self.duration_s = float(records.end_s)
        # the replica's physics, read once, here, from the resolved scenario the engine ran:
        # the frames take what they need from _hw
        b = records.build
        self.step_model = b.step
        self.memory_plan = b.memory
        #: the chip's racks, power model and PUE, as build capped it (maiasim.physics.power)
        self.rack = rack_for(scenario.chip_name, scenario.chip_spec(), scenario.datacenter, draw)
        self._hw = ReplicaHardware.of(b.chip, b.precisions.gemm, b.memory, scenario.replicas,
                                      b.chips_per_replica, self.rack)

    def __repr__(self) -> str:
        s = self._summary.loc[self._summary.workload == "all"].iloc[0]
        return (f"<Result {self.scenario.name}: {int(s.requests)} requests, "
                f"{int(s.completed)} completed, {s.throughput_tok_s:,.0f} tok/s, "
                f"TTFT p99 {s.ttft_p99_s:.3g} s, TPOT p99 {s.tpot_p99_s:.3g} s>")

    # ---- the four frames: copies, so that a caller's edit never reaches a later computation -----
    @property
    def requests(self) -> pd.DataFrame:
        """One row per request: times, lengths, replica, preemptions, final status and reason."""
        return self._requests.copy()

    @property
    def replicas(self) -> pd.DataFrame:
        """One row per replica: busy time, MFU, MBU, KV peak, tokens, steps, energy."""
        return self._replicas.copy()

    @property
    def timeline(self) -> pd.DataFrame:
        """Cluster-wide time bins: throughput, queue depth, batch size, KV use, busy, power."""
        return self._timeline.copy()

    @property
    def summary(self) -> pd.DataFrame:
        """One row per workload and one for ``all``: counts, percentiles, SLO, cost, energy."""
        return self._summary.copy()

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
        return requests_frame(self.records.requests, [w.name for w in self.scenario.workload])

    @cached_property
    def _replicas(self) -> pd.DataFrame:
        return replicas_frame(self.records.replicas, self._hw, self.duration_s,
                              self.records.requests, self.scenario.horizon_s)

    @cached_property
    def _timeline(self) -> pd.DataFrame:
        return timeline_frame(self.records, self._hw, self.duration_s,
                              self.scenario.engine.timeline_bin_s)

    @cached_property
    def energy(self) -> FleetEnergy:
        """The run's energy at the chip, rack and wall, and the racks it occupies."""
        return FleetEnergy.of(self.rack, self.scenario.chips, self.duration_s,
                              float(self._replicas.energy_j.sum()))

    def oversubscription(self, facility_w: float) -> dict[str, float]:
        """Power oversubscription what-if: racks of this fleet that fit under a facility budget of
        ``facility_w`` IT watts when provisioned at their rated peak (``rack_kw``) versus at the
        peak the run measured (the timeline's highest bin of rack power, per tray in use, times
        the trays of a full rack), and the share more the measured peak admits (POLCA's
        argument, HF §4d)."""
        trays = max(self.rack.trays(self.scenario.chips), 1)
        measured = (float(self._timeline.power_rack_w.max()) / trays
                    * self.rack.trays_per_rack)
        rated_n = racks_under_budget(facility_w, self.energy.rack_kw * 1e3)
        measured_n = racks_under_budget(facility_w, measured)
        return {"rack_w_rated": self.energy.rack_kw * 1e3, "rack_w_measured_peak": measured,
                "racks_at_rated": rated_n, "racks_at_measured_peak": measured_n,
                "more_racks_frac": measured_n / rated_n - 1.0 if rated_n else float("nan")}

    @cached_property
    def _price(self) -> tuple[float, str, str]:
        chips = self.scenario.chips
        return chip_hour_usd(self.scenario.cost, self.scenario.chip_name, self.records.build.chip,
                             rack=self.rack, draw=self._draw,
                             avg_power_w=self.energy.avg_it_power_w_per_chip(chips,
                                                                             self.duration_s))

    @property
    def chip_hour_usd(self) -> float:
        """The price of a chip-hour on :attr:`cost_basis` (ownership: at the measured power)."""
        return self._price[0]

    @property
    def cost_basis(self) -> str:
        """``rental`` or ``ownership``."""
        return self._price[1]

    @property
    def cost_source(self) -> str:
        """Where the chip-hour price came from."""
        return self._price[2]

    @cached_property
    def _summary(self) -> pd.DataFrame:
        return summary_frame(self._requests, self.scenario.workload, duration_s=self.duration_s,
                             chips=self.scenario.chips, chip_hour_usd=self.chip_hour_usd,
                             cost_basis=self.cost_basis, fleet=self.energy)

    # ---- convenience ---------------------------------------------------------------------------
    def breakdown(self) -> pd.DataFrame:
        """Per-operator time of a representative decode step (the mean decode batch of the run),
        to show why a configuration is as fast as it is. The last row, ``overhead``, is the
        per-iteration cost outside the operators (launch, scheduling, per-token and per-sequence
        overheads), so ``time_s`` sums to the step time and ``share`` to 1. ``df.attrs`` holds the
        step's ``batch`` (sequences), ``context_tokens`` (each) and ``step_s``."""
        rp = self.records.replicas
        req = self._requests
        done = req[req.status == "completed"]
        steps = max(int(rp.steps.sum()), 1)
        batch = max(1, min(int(round(rp.out_tokens.sum() / steps)), self.step_model.max_tokens))
        ctx = int(done.prompt_tokens.mean() + done.output_tokens.mean() / 2) if len(done) else 1024
        b = self.step_model.breakdown([], [ctx] * batch)
        ops = {**b.ops, "overhead": b.overhead_s}  # their sum is the step time (b.total_s)
        df = pd.DataFrame({"op": list(ops), "time_s": list(ops.values())})
        df["share"] = df.time_s / df.time_s.sum()
        df.attrs.update(batch=batch, context_tokens=ctx, step_s=float(df.time_s.sum()))
        return df

    def to_csv(self, directory) -> list:
        """Write the four frames as CSV files; returns the paths."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        paths = []
        for name in ("summary", "requests", "replicas", "timeline"):
            p = d / f"{name}.csv"
            getattr(self, f"_{name}").to_csv(p, index=False)
            paths.append(p)
        return paths
