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
from .failures import failure_counts, touched_by_failures
from .slo import has_targets, p99_targets_met, requests_meeting, requests_meeting_own

#: the per-request latencies the summary gives percentiles of (``ttft_s`` -> ``ttft_p99_s``, ...)
LATENCIES = ("ttft_s", "tpot_s", "e2e_s")


def summary_frame(req: pd.DataFrame, workloads: Sequence[Any], *, duration_s: float,
                  cost_usd: float, request_energy_j: np.ndarray, fleet: dict,
                  by: str = "workload", availability: float = 1.0) -> pd.DataFrame:
    """The summary of a run from its requests frame.

    ``workloads``: the scenario's workloads (``name``, ``slo``); ``cost_usd``: the fleet's over
    the run, shared out per request by what each used (the requests frame's ``cost_usd``
    column; :mod:`.attribution`), and so is the chip energy (``request_energy_j``). ``fleet``:
    ``cost_basis``, ``usd_per_chip_hour``, ``energy`` (a :class:`~.economics.FleetEnergy`: the
    fleet's energy at the chip, rack and wall, its racks) and ``request_rack_j`` (rack energy
    per request). ``by``: one row per ``workload`` (the default), ``tenant`` or ``slo_class``,
    and one for ``all``; the first column is named after it. ``availability``: the fleet's
    share of replica-time serving (every row carries it)."""
    dur = max(duration_s, 1e-12)
    fe: FleetEnergy = fleet["energy"]
    energy_j = fe.chip_j
    rows = []
    if by == "workload":
        groups = [(w.name, w.slo, (req.workload == w.name).to_numpy()) for w in workloads]
    else:
        groups = [(str(v), None, (req[by] == v).to_numpy())
                  for v in dict.fromkeys(getattr(w, by) for w in workloads)]
    groups.append(("all", None, np.ones(len(req), bool)))
    cost_req = req.cost_usd.to_numpy(float)
    for name, slo, mask in groups:
        df = req[mask]
        done = df[df.status == "completed"]
        out_tok = float(done.output_tokens.sum())
        is_all = name == "all" and mask.all()
        cost = cost_usd if is_all else float(np.sum(cost_req[mask]))
        energy = energy_j if is_all else float(np.sum(request_energy_j[mask]))
        if by == "workload" and not is_all:
            met = requests_meeting(df, slo)
        else:
            met = requests_meeting_own(df, workloads)
        row = {
            "workload": name,
            "requests": len(df),
            "completed": len(done),
            "rejected": int((df.status == "rejected").sum()),
            "dropped": int((df.status == "dropped").sum()),
            "in_flight": int((df.status == "in_flight").sum()),
            "duration_s": dur,
            "output_tok_s": out_tok / dur,
            "prompt_tok_s": float(done.prompt_tokens.sum()) / dur,
            "total_tok_s": (out_tok + float(done.prompt_tokens.sum())) / dur,
            "completed_req_s": len(done) / dur,
            "prefix_hit_rate": _hit_rate(df),
            "goodput_req_s": float(met.sum()) / dur,
        }
        for col in LATENCIES:
            vals = done[col].to_numpy(float)
            vals = vals[~np.isnan(vals)]
            for p in PERCENTILES:
                row[f"{col[:-2]}_p{p}_s"] = float(np.percentile(vals, p)) if len(vals) else np.nan
            row[f"{col[:-2]}_mean_s"] = float(vals.mean()) if len(vals) else np.nan
        judged = _with_targets(df, slo, workloads, by != "workload" or is_all)  # with an SLO
        row["slo_attainment"] = float(met[judged].mean()) if judged.any() else np.nan
        row["slo_met"] = p99_targets_met(row, slo) if slo is not None else None
        row["cost_usd"] = cost
        row["output_tokens_per_usd"] = out_tok / cost if cost > 0 else np.nan
        row["usd_per_m_output_tok"] = cost / out_tok * 1e6 if out_tok > 0 else np.nan
        row["cost_basis"] = fleet["cost_basis"]
        row["usd_per_chip_hour"] = fleet["usd_per_chip_hour"]
        row["energy_j"] = energy
        row["output_tokens_per_joule"] = out_tok / energy if energy > 0 else np.nan
        rack = fe.rack_j if is_all else float(np.sum(fleet["request_rack_j"][mask]))
        for where, e in (("rack", rack), ("wall", rack * fe.pue)):
            row[f"energy_{where}_j"] = e
            row[f"output_tokens_per_joule_{where}"] = out_tok / e if e > 0 else np.nan
        row["racks"] = fe.racks
        row["rack_kw"] = fe.rack_kw
        row["output_tok_s_per_rack_kw"] = (out_tok / dur / fe.provisioned_kw
                                           if fe.provisioned_kw > 0 else np.nan)
        row["availability"] = availability
        row.update(failure_counts(df))
        row["goodput_lost_req_s"] = float((touched_by_failures(df) & ~met).sum()) / dur
        rows.append(row)
    out = pd.DataFrame(rows, columns=ordered("summary", rows[0]))
    all_met = [r for r in out.slo_met[:-1] if r is not None]
    out.loc[out.workload == "all", "slo_met"] = bool(all(all_met)) if all_met else None
    return out if by == "workload" else out.rename(columns={"workload": by})


def _with_targets(df: pd.DataFrame, slo, workloads, is_all: bool) -> np.ndarray:
    """Which requests of ``df`` have a latency target to attain: attainment is undefined (NaN),
    not 1.0, for a workload without one."""
    if not is_all:
        return np.full(len(df), has_targets(slo))
    names = [w.name for w in workloads if has_targets(w.slo)]
    return df.workload.isin(names).to_numpy()


def _hit_rate(df: pd.DataFrame) -> float:
    """Prompt tokens served from the prefix cache over prompt tokens, of admitted requests."""
    admitted = df[df.admit_s.notna()]
    prompt = float(admitted.prompt_tokens.sum())
    return float(admitted.cached_tokens.sum()) / prompt if prompt > 0 else 0.0
