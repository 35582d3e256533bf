"""The summary frame: one row per workload and one for ``all``, the figures a study compares.

Counts, rates, latency percentiles, the SLO test (:mod:`.slo`), and cost and energy shared out
by the work each workload caused. Its columns and their order are the registry's
(:mod:`.columns`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .columns import PERCENTILES, ordered
from .economics import FleetEnergy
from .slo import has_targets, p99_targets_met, requests_meeting, requests_meeting_own

#: the per-request latencies the summary gives percentiles of (``ttft_s`` -> ``ttft_p99_s``, ...)
LATENCIES = ("ttft_s", "tpot_s", "e2e_s")


def summary_frame(req: pd.DataFrame, workloads: Sequence[Any], *, duration_s: float, chips: int,
                  chip_hour_usd: float, cost_basis: str, fleet: FleetEnergy) -> pd.DataFrame:
    """The summary of a run from its requests frame.

    ``workloads``: the scenario's workloads (``name``, ``slo``); ``chips``: chips of the fleet;
    ``chip_hour_usd`` on ``cost_basis``; ``fleet``: the fleet's energy over the run at the chip,
    rack and wall, and its racks. Cost and energy are shared between workloads by tokens processed
    (prompt and generated), the work that used the chips."""
    dur = max(duration_s, 1e-12)
    cost_total = chips * chip_hour_usd * dur / 3600.0
    energy_total = fleet.chip_j
    rows = []
    groups = [(w.name, w.slo, req[req.workload == w.name]) for w in workloads]
    groups.append(("all", None, req))
    work_tokens = (req.prompt_tokens + req.generated_tokens).astype(float)
    total_work = max(float(work_tokens.sum()), 1.0)
    for name, slo, df in groups:
        done = df[df.status == "completed"]
        out_tok = float(done.output_tokens.sum())
        share = float(work_tokens[df.index].sum()) / total_work
        cost = cost_total * share
        energy = energy_total * share
        met = requests_meeting(df, slo) if name != "all" else requests_meeting_own(req, workloads)
        row = {
            "workload": name,
            "requests": len(df),
            "completed": len(done),
            "rejected": int((df.status == "rejected").sum()),
            "dropped": int((df.status == "dropped").sum()),
            "in_flight": int((df.status == "in_flight").sum()),
            "duration_s": dur,
            "throughput_tok_s": out_tok / dur,
            "prompt_tok_s": float(done.prompt_tokens.sum()) / dur,
            "request_rate_per_s": len(done) / dur,
            "goodput_req_s": float(met.sum()) / dur,
        }
        for col in LATENCIES:
            vals = done[col].to_numpy(float)
            vals = vals[~np.isnan(vals)]
            for p in PERCENTILES:
                row[f"{col[:-2]}_p{p}_s"] = float(np.percentile(vals, p)) if len(vals) else np.nan
            row[f"{col[:-2]}_mean_s"] = float(vals.mean()) if len(vals) else np.nan
        judged = _with_targets(df, slo, workloads, name == "all")  # requests that have an SLO
        row["slo_attainment"] = float(met[judged].mean()) if judged.any() else np.nan
        row["slo_met"] = p99_targets_met(row, slo) if name != "all" else None
        row["cost_usd"] = cost
        row["tokens_per_usd"] = out_tok / cost if cost > 0 else np.nan
        row["usd_per_mtok"] = cost / out_tok * 1e6 if out_tok > 0 else np.nan
        row["cost_basis"] = cost_basis
        row["usd_per_chip_hour"] = chip_hour_usd
        row["energy_j"] = energy
        row["tokens_per_joule"] = out_tok / energy if energy > 0 else np.nan
        for where, total in (("rack", fleet.rack_j), ("wall", fleet.wall_j)):
            e = total * share
            row[f"energy_{where}_j"] = e
            row[f"tokens_per_joule_{where}"] = out_tok / e if e > 0 else np.nan
        row["racks"] = fleet.racks
        row["rack_kw"] = fleet.rack_kw
        row["tok_s_per_rack_kw"] = (out_tok / dur / fleet.provisioned_kw
                                    if fleet.provisioned_kw > 0 else np.nan)
        rows.append(row)
    out = pd.DataFrame(rows, columns=ordered("summary", rows[0]))
    all_met = [r for r in out.slo_met[:-1] if r is not None]
    out.loc[out.workload == "all", "slo_met"] = bool(all(all_met)) if all_met else None
    return out


def _with_targets(df: pd.DataFrame, slo, workloads, is_all: bool) -> np.ndarray:
    """Which requests of ``df`` have a latency target to attain: attainment is undefined (NaN),
    not 1.0, for a workload without one."""
    if not is_all:
        return np.full(len(df), has_targets(slo))
    names = [w.name for w in workloads if has_targets(w.slo)]
    return df.workload.isin(names).to_numpy()
