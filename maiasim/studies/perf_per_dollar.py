"""The Maia 200 perf-per-dollar question, answered with its assumptions in view.

Microsoft says Maia 200 gives "30% better performance per dollar than the latest generation
hardware in our fleet" and ">40% more tokens under equal rack power". This study puts Maia 200
beside its peers on the same workload and SLOs, each chip sized by :func:`~.plan.plan` (the
cheapest replica count and tensor parallelism that meets every SLO), at each precision the chip
supports, and reports for every sized fleet:

- output tokens per dollar on both cost bases (ownership, the default, and rental), with the
  p5/p50/p95 band of the ownership figure over price, power, PUE and calibration draws
  (``samples``);
- output tokens per second per provisioned rack kW (the "equal rack power" figure) and per
  facility MW (rack kW times the facility's PUE);
- what each figure rests on (:func:`assumptions`): prices with their ranges and sources, racks,
  power, and the efficiency factors of each chip's calibration, which decide the answer.

:func:`claims` turns the fleets into ratios of Maia 200 over each peer, says whether each claim
holds at the nominal figures and across the band, and gives the Maia 200 price at which the
perf-per-dollar claim would just hold. ``python -m tools.perf_per_dollar`` regenerates
``docs/perf-per-dollar.md`` from these functions; ``notebooks/06-perf-per-dollar.ipynb`` walks
through them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import catalog
from ..api import simulate
from ..catalog.prices import chip_economics, facility
from ..scenario import Scenario, load_scenario
from .plan import plan, variant

__all__ = ["CLAIMS", "PEERS", "assumptions", "claims", "compare"]

#: the peers of the claims: the latest GPUs a hyperscaler fleet runs
PEERS: tuple[str, ...] = ("gb200", "b200", "h200")

#: Microsoft's two claims, as ratios of Maia 200 over a peer that must be reached
CLAIMS: dict[str, tuple[str, float]] = {
    "perf_per_dollar": ("output_tokens_per_usd_ownership", 1.30),
    "perf_per_dollar_rental": ("output_tokens_per_usd_rental", 1.30),
    "tokens_under_equal_rack_power": ("output_tok_s_per_rack_kw", 1.40),
}

#: the calibration factors shown beside each chip (they set its kernel speeds)
FACTORS = ("gemm_peak_fraction", "hbm_fraction", "attention_decode_hbm_fraction",
           "allreduce_fraction", "iteration_overhead_s")


def compare(scenario: Scenario | str | os.PathLike, chips: Sequence[str] = ("maia200", *PEERS),
            precisions: Sequence[str] = ("fp8", "fp4"), tp: Sequence[int] = (1, 2, 4, 8), *,
            samples: int = 0, max_replicas: int = 64, executor: str = "serial",
            progress: bool = False) -> pd.DataFrame:
    """One row per (chip, precision): the cheapest fleet meeting the scenario's SLOs and its
    figures of merit (see the module docstring). ``precision`` sets weights and activations (the
    KV cache stays the scenario's); a chip without that tensor format is skipped. ``samples`` > 0
    adds ``output_tokens_per_usd_ownership_p5/_p50/_p95`` from that many uncertainty draws."""
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    sc = sc.with_overrides({"cost": {"basis": "ownership"}})
    rows = []
    for p in precisions:
        sc_p = sc.with_overrides({"precision.weights": p, "precision.activations": p})
        able = [c for c in chips if p in catalog.chip(c).peak_tflops]
        if not able:
            continue
        df = plan(sc_p, able, list(tp), max_replicas=max_replicas, executor=executor,
                  progress=progress)
        for chip in able:
            rows.append(_row(sc_p, chip, p, df[df.chip == chip], samples))
    return pd.DataFrame(rows)


def _row(sc: Scenario, chip: str, precision: str, plans: pd.DataFrame,
         samples: int) -> dict[str, Any]:
    row: dict[str, Any] = {"chip": chip, "precision": precision,
                           "calibration": catalog.calibration_status(chip)}
    feas = plans[plans.feasible.astype(bool)]
    if not len(feas):
        reasons = "; ".join(f"TP{r.tensor_parallel}: {r.reason}" for _, r in plans.iterrows())
        return {**row, "feasible": False, "reason": reasons}
    best = feas.sort_values(["cost_per_hour_usd", "tensor_parallel"]).iloc[0]
    fleet = variant(sc, chip, int(best.tensor_parallel), int(best.replicas))
    res = simulate(fleet, uncertainty=samples or 0)
    s = res.summary.set_index("workload").loc["all"]
    rent = _rental(chip)
    chip_hours = fleet.chips * res.duration_s / 3600.0
    out_tok = float(s.output_tok_s) * res.duration_s
    row.update({
        "feasible": True, "reason": None, "tensor_parallel": int(best.tensor_parallel),
        "replicas": int(best.replicas), "chips": fleet.chips,
        "ttft_p99_s": float(s.ttft_p99_s), "tpot_p99_s": float(s.tpot_p99_s),
        "output_tok_s": float(s.output_tok_s),
        "usd_per_chip_hour_ownership": float(s.usd_per_chip_hour),
        "usd_per_chip_hour_rental": rent,
        "output_tokens_per_usd_ownership": float(s.output_tokens_per_usd),
        "output_tokens_per_usd_rental": out_tok / (chip_hours * rent) if rent == rent else np.nan,
        "output_tok_s_per_rack_kw": float(s.output_tok_s_per_rack_kw),
        "output_tok_s_per_facility_mw": float(s.output_tok_s_per_rack_kw) * 1e3 / _pue(sc),
        "output_tokens_per_joule_wall": float(s.output_tokens_per_joule_wall),
    })
    for q in ("p5", "p50", "p95"):
        col = f"output_tokens_per_usd_{q}"
        row[f"output_tokens_per_usd_ownership_{q}"] = float(s[col]) if col in s else np.nan
    return row


def _rental(chip: str) -> float:
    e = chip_economics(chip)
    r = e.rental_usd_per_chip_hour if e is not None else None
    return float(r.value) if r is not None else float("nan")


def _pue(sc: Scenario) -> float:
    dc = getattr(sc, "datacenter", None)
    pue = getattr(dc, "pue", None) if dc is not None else None
    return float(pue) if pue else float(facility().pue.value)


def claims(df: pd.DataFrame, chip: str = "maia200", peers: Sequence[str] = PEERS) -> pd.DataFrame:
    """One row per (claim, precision, peer): the ratio of ``chip`` over the peer, the target,
    whether it holds at the nominal figures and at the band's worst case (Maia 200's p5 over the
    peer's p95, ownership basis only), and, for the perf-per-dollar claims, the ``chip``
    price per chip-hour at which it would just hold (``breakeven_usd_per_chip_hour``)."""
    rows = []
    feas = df[df.feasible.astype(bool)] if "feasible" in df else df
    for precision, g in feas.groupby("precision", sort=False):
        me = g[g.chip == chip]
        if not len(me):
            continue
        me = me.iloc[0]
        for peer in peers:
            other = g[g.chip == peer]
            if not len(other):
                continue
            other = other.iloc[0]
            for claim, (col, target) in CLAIMS.items():
                ratio = me[col] / other[col] if other[col] else np.nan
                row = {"claim": claim, "precision": precision, "peer": peer, "metric": col,
                       "ratio": ratio, "target": target,
                       "holds": bool(ratio >= target) if ratio == ratio else None}
                if col == "output_tokens_per_usd_ownership" and \
                        "output_tokens_per_usd_ownership_p5" in me:
                    lo = me["output_tokens_per_usd_ownership_p5"]
                    hi = other["output_tokens_per_usd_ownership_p95"]
                    worst = lo / hi if hi and hi == hi and lo == lo else np.nan
                    row["ratio_worst_case"] = worst
                    row["holds_worst_case"] = bool(worst >= target) if worst == worst else None
                if col.startswith("output_tokens_per_usd"):
                    price = me["usd_per_chip_hour_" + col.rsplit("_", 1)[1]]
                    row["breakeven_usd_per_chip_hour"] = price * ratio / target
                rows.append(row)
    return pd.DataFrame(rows)


def assumptions(chips: Sequence[str] = ("maia200", *PEERS)) -> pd.DataFrame:
    """Everything the answer rests on, one row per chip: prices (value, range, source), racks and
    power, and the calibration's efficiency factors with what they rest on."""
    fac = facility()
    rows = []
    for c in chips:
        spec, econ, cal = catalog.chip(c), chip_economics(c), catalog.calibration(c)
        row: dict[str, Any] = {"chip": c, "tdp_w": spec.tdp_w,
                               "hbm_tb_s": spec.hbm_bandwidth_bytes_per_s / 1e12,
                               **{f"{p}_tflops": spec.peak_tflops.get(p)
                                  for p in ("fp4", "fp8")}}
        if econ is not None:
            r = econ.rental_usd_per_chip_hour
            row.update(_figure("rental_usd_per_chip_hour", r))
            if econ.ownership is not None:
                for k in ("chip_capex_usd", "server_capex_usd", "network_capex_usd"):
                    row.update(_figure(k, getattr(econ.ownership, k)))
            pl = econ.placement
            row.update({"chips_per_rack": pl.chips_per_tray * pl.trays_per_rack,
                        "rack_power_w": pl.rack_power_w.value if pl.rack_power_w else np.nan})
        row.update({"lifetime_years": fac.lifetime_years.value, "pue": fac.pue.value,
                    "calibration": catalog.calibration_status(c)})
        for k in FACTORS:
            v = getattr(cal, k)
            row[k] = v.get("fp8", v.get("default")) if isinstance(v, dict) else v
        rows.append(row)
    return pd.DataFrame(rows)


def _figure(name: str, fig) -> dict[str, Any]:
    if fig is None:
        return {name: np.nan, f"{name}_range": "", f"{name}_source": "none"}
    rng = f"{fig.low:g}-{fig.high:g}" if fig.low is not None and fig.high is not None else ""
    return {name: fig.value, f"{name}_range": rng, f"{name}_source": fig.source}
