"""End-to-end serving cases of the accuracy report: whole benchmark runs (throughput, TTFT, TPOT)
replayed through the simulator, a serving stack's factors fitted on part of them
(``maiasim calibrate CHIP serving``) and checked on the rest.

The cases and their setup are in ``data/datasets.yaml`` (``serving``); the runs are vendored under
``data/calibration/serving/``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from maiasim import catalog
from maiasim.calibrate.serving import (
    REPLAY_ONLY,
    ServingSetup,
    fit_serving,
    serving_error_summary,
    serving_report,
)
from maiasim.calibrate.serving_io import read_serving

from .common import config

#: Metric columns of the case table, as the report names them.
METRIC_NAMES = {"throughput_tok_s": "throughput", "ttft_s": "TTFT", "tpot_s": "TPOT"}


def serving_cases(data: Path, out: Path) -> dict:
    """Fit each configured entry on its fit runs (one fit for all runs, one per group of
    ``fit_by``: each deployment calibrated on its own runs, or one fit on the runs of
    ``fit_deployments`` that predicts every other deployment), predict every run; write the
    per-case CSV.

    Returns ``{"summary", "cases", "fitted", "targets", "entries"}`` for the report."""
    cfg = config("datasets")["serving"]
    target_median, target_p90 = cfg["targets"]
    summaries, cases, fitted, targets = [], [], [], []
    for e in cfg["stacks"]:
        runs = read_serving(data / e["file"], e["statistic"])
        setup = ServingSetup(chip=e["chip"], stack=e["stack"],
                             max_num_seqs=e["max_num_seqs"],
                             max_batch_tokens=e["max_batch_tokens"],
                             memory_fraction=e["memory_fraction"])
        reps = []
        if e.get("uncalibrated"):  # no fit: the shipped calibration and stack profile
            groups = []
            reps.append(serving_report(setup, catalog.calibration(e["chip"]),
                                       runs.assign(split="held-out")))
        elif e.get("fit_deployments"):  # a stack profile: fitted on some deployments
            own = runs.deployment.isin(e["fit_deployments"])
            runs = runs.assign(split=np.where(own & (runs.split == "fit"), "fit", "held-out"))
            groups = [("+".join(e["fit_deployments"]), runs)]
        elif e.get("fit_by"):  # a group needs its own fit runs (three load levels)
            groups = [(k, g) for k, g in runs.groupby(e["fit_by"], sort=False)
                      if (g.split == "fit").sum() >= 3]
        else:
            groups = [("all", runs)]
        for name, g in groups:
            fit = fit_serving(setup, g, params=e.get("params"))
            reps.append(fit.report)
            label = f"{e['fit_by']} {name}" if e.get("fit_by") else name
            for k, v in fit.fitted.items():
                fitted.append({"dataset": e["key"], "fitted on": label, "factor": k,
                               "fitted": v,
                               "where": "replay only" if k in REPLAY_ONLY else "scenario"})
        # source: a path on this machine
        rep = pd.concat(reps).sort_index().drop(columns=["lengths", "source"])
        rep.to_csv(out / f"{e['key']}.csv", index=False)
        s = serving_error_summary(rep, ["split"]).assign(dataset=e["key"])
        s["metric"] = s.metric.map(METRIC_NAMES)
        summaries.append(s)
        cases.append(rep.assign(dataset=e["key"]))
        for _, r in s[s.split == "held-out"].iterrows():
            ok = r.median_abs_pct <= target_median and r.p90_abs_pct <= target_p90
            targets.append({"dataset": e["key"], "metric": r.metric,
                            "cases": int(r.cases), "median_abs_pct": r.median_abs_pct,
                            "p90_abs_pct": r.p90_abs_pct,
                            "target": f"median <= {target_median:g}%, p90 <= {target_p90:g}%",
                            "met": "yes" if ok else "NO"})
    return {"summary": pd.concat(summaries, ignore_index=True),
            "cases": pd.concat(cases, ignore_index=True), "fitted": pd.DataFrame(fitted),
            "targets": pd.DataFrame(targets), "entries": cfg["stacks"]}


def deployment_summary(cases: pd.DataFrame) -> pd.DataFrame:
    """Held-out median absolute error of each metric per dataset and deployment."""
    h = cases[cases.split == "held-out"]
    rows = []
    for (ds, dep), g in h.groupby(["dataset", "deployment"], sort=False):
        row = {"dataset": ds, "deployment": dep, "held-out runs": len(g)}
        for col, name in METRIC_NAMES.items():
            row[f"{name} median |err| %"] = float(g[f"error_{col}_pct"].abs().median())
        rows.append(row)
    return pd.DataFrame(rows)


def case_table(cases: pd.DataFrame) -> pd.DataFrame:
    """One row per run: measured, predicted and signed error of each metric."""
    out = cases[["dataset", "case", "split", "requests"]].copy()
    out["dataset"] = out.dataset.str.removeprefix("serving-vllm-v0-h100-")
    for col, name in METRIC_NAMES.items():
        scale = 1e3 if col != "throughput_tok_s" else 1.0
        unit = "tok/s" if col == "throughput_tok_s" else "ms"
        out[f"{name} {unit}"] = cases[col] * scale
        out[f"model {name} {unit}"] = cases[f"predicted_{col}"] * scale
        out[f"{name} err %"] = cases[f"error_{col}_pct"]
    return out
