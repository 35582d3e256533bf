"""Uncertainty bands: rerun a scenario over draws of its calibration, price, power and PUE ranges.

Where a chip's efficiency factors are not measured (Maia 200 has only vendor figures; most peers
have generic defaults), a single prediction overstates what is known. :func:`run` simulates the
scenario once with the nominal calibration and ``samples`` more times with factors drawn uniformly
from the calibration's ``ranges`` (:meth:`Calibration.sample`), and adds p5 / p50 / p95 columns to
the summary for the metrics the column registry marks ``banded`` (throughput, latency percentiles,
SLO attainment, economics)::

    res = maiasim.simulate(sc, uncertainty=20)      # or uncertainty: {samples: 20} in the YAML
    res.summary[["workload", "output_tok_s", "output_tok_s_p5", "output_tok_s_p95"]]
    res.uncertainty                # one row per draw and workload, with the factors

Each draw also takes the economics from their catalog ranges (``maiasim/catalog/economics.yaml``,
:func:`economics_draws`): the rental price, the capex parts, lifetime, electricity price, facility
rent, PUE, host and network power and a factor on the fitted chip power, so tokens per dollar and
per joule carry the price and power uncertainty as well as the calibration's. A figure the
scenario sets itself (``cost.chip_hour_usd``, ``cost.ownership.*``, ``datacenter.*``) is held at
its value.

The draws come from ``rng_for(scenario.seed, "uncertainty")`` (calibration) and
``"uncertainty-economics"`` (figures), so the bands are reproducible; the workload (arrivals,
lengths) is the same in every draw. The Result's frames (requests, replicas, timeline) are those
of the nominal calibration and figures.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..build import build_fleet
from ..catalog import prices
from ..engine import run as run_engine
from ..results.columns import banded
from ..results.frames import Result
from ..spec.calibration import Calibration
from ..workload.streams import rng_for

#: the band quantiles: ``<metric>_p5/_p50/_p95`` for each summary column the column registry
#: marks ``banded`` (:func:`maiasim.results.columns.banded`)
QUANTILES = (5, 50, 95)


def effective_calibration(scenario, calibration: Calibration | None = None) -> Calibration:
    """The nominal calibration to sample around.

    A factor the scenario sets in ``hardware.calibration`` without also giving it a range is held
    fixed at that value: the catalog range was for the catalog value, not for the user's."""
    if calibration is not None:
        return calibration
    cal = scenario.calibration()
    over = dict(scenario.hardware.calibration or {})
    given = set((over.get("ranges") or {}).keys())
    fixed = {k for k in over if k != "ranges" and k in cal.ranges and k not in given}
    if fixed:
        kept = {k: v for k, v in cal.ranges.items() if k not in fixed}
        cal = cal.model_copy(update={"ranges": kept})
    return cal


def draws(calibration: Calibration, samples: int, seed: int) -> list[Calibration]:
    """``samples`` calibrations drawn from the ranges, reproducibly from ``seed``."""
    rng = rng_for(seed, "uncertainty")
    return [calibration.sample(rng) for _ in range(samples)]


def economics_draws(chip_name: str | None, samples: int, seed: int) -> list[dict[str, float]]:
    """``samples`` draws, uniform over each catalog range, of the figures that price and power a
    chip: keys as :func:`maiasim.physics.datacenter.rack_for` and
    :func:`maiasim.results.economics.chip_hour_usd` read them. Fixed-value figures are left out;
    ``chip_name`` None (a fleet of several chips) draws the facility and power figures only."""
    figs = {}
    fac = prices.facility()
    for k in ("lifetime_years", "electricity_usd_per_kwh", "facility_usd_per_kw_month", "pue"):
        figs[k] = getattr(fac, k)
    figs["power_scale"] = prices.power_shape().scale
    econ = prices.chip_economics(chip_name) if chip_name is not None else None
    if econ is not None:
        if econ.rental_usd_per_chip_hour is not None:
            figs["rental"] = econ.rental_usd_per_chip_hour
        if econ.ownership is not None:
            for k in ("chip_capex_usd", "server_capex_usd", "network_capex_usd"):
                figs[k] = getattr(econ.ownership, k)
        figs["host_w_per_tray"] = econ.placement.host_w_per_tray
        figs["network_w_per_chip"] = econ.placement.network_w_per_chip
    ranged = {k: f.range for k, f in figs.items() if f.range[0] < f.range[1]}
    rng = rng_for(seed, "uncertainty-economics")
    return [{k: float(rng.uniform(lo, hi)) for k, (lo, hi) in sorted(ranged.items())}
            for _ in range(samples)]


def bands(nominal: pd.DataFrame, per_draw: pd.DataFrame) -> pd.DataFrame:
    """``nominal`` summary with ``<metric>_p5/_p50/_p95`` columns computed from the per-draw
    rows."""
    out = nominal.copy()
    keys = out["workload"].astype(str)
    for metric in banded():
        if metric not in out.columns or metric not in per_draw.columns:
            continue
        g = per_draw.groupby(per_draw["workload"].astype(str))[metric]
        for q in QUANTILES:
            vals = g.quantile(q / 100.0)
            out[f"{metric}_p{q}"] = keys.map(vals).astype(float).to_numpy()
    return out


def run(scenario, samples: int, *, calibration: Calibration | None = None, progress: bool = False):
    """Simulate the nominal calibration and ``samples`` draws; return the nominal Result with bands.

    The Result gains ``uncertainty``: one row per (draw, workload) with the summary metrics and the
    drawn factor values, for plots or a sensitivity analysis."""
    if samples < 0:
        raise ValueError("uncertainty samples must be >= 0")
    nominal_cal = effective_calibration(scenario, calibration)
    res = Result(scenario, run_engine(build_fleet(scenario, nominal_cal), progress=progress))
    if samples == 0:
        return res
    rows = []
    chips = {p.chip_name for p in scenario.pools}  # a fleet of several chips: facility only
    econ = economics_draws(chips.pop() if len(chips) == 1 else None, samples, scenario.seed)
    failures = scenario.failures is not None and scenario.failures.enabled
    for i, cal in enumerate(draws(nominal_cal, samples, scenario.seed)):
        # with failures on, each draw also redraws when components fail (a new seed for the run)
        sc_i = scenario.with_overrides({"seed": _draw_seed(scenario.seed, i)}) if failures \
            else scenario
        s = Result(sc_i, run_engine(build_fleet(sc_i, cal), record_steps=False),
                   draw=econ[i]).summary
        s.insert(0, "draw", i)
        for name in sorted(cal.ranges):
            v = cal.gemm_fraction("default") if name == "gemm_peak_fraction" else getattr(cal, name)
            s[f"factor_{name}"] = float(v)
        for name, v in econ[i].items():
            s[f"figure_{name}"] = v
        rows.append(s)
    per_draw = pd.concat(rows, ignore_index=True)
    res.with_summary(bands(res.summary, per_draw))
    res.uncertainty = per_draw
    res.uncertainty_samples = samples
    return res


def _draw_seed(seed: int, i: int) -> int:
    """The run seed of draw ``i`` when failures are on: independent of the nominal run's."""
    return int(np.random.SeedSequence(int(seed), spawn_key=(10_000 + i,)).generate_state(1)[0])


#: the metrics :func:`band_table` shows by default: throughput, the two p99 latencies, economics
HEADLINE = ("output_tok_s", "ttft_p99_s", "tpot_p99_s", "output_tokens_per_usd")


def band_table(summary: pd.DataFrame, metrics: tuple[str, ...] = HEADLINE) -> pd.DataFrame:
    """A compact view of the bands, to read a run's spread at a glance: one row per workload and
    metric with nominal, p5, p50, p95."""
    rows = []
    for _, r in summary.iterrows():
        for m in metrics:
            if f"{m}_p5" not in summary.columns:
                continue
            rows.append({"workload": r["workload"], "metric": m, "nominal": r[m],
                         "p5": r[f"{m}_p5"], "p50": r[f"{m}_p50"], "p95": r[f"{m}_p95"]})
    return pd.DataFrame(rows).replace([np.inf, -np.inf], np.nan)
