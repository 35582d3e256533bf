"""Run the whole accuracy report: fit, predict, write docs/validation.md and docs/validation/.

``python -m tools.validation`` (``make validate``) calls :func:`main`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from maiasim import catalog
from maiasim.calibrate import fit

from . import datasets as ds_mod
from .common import COMMAND, DATA_DIR, DOCS, OUT
from .maia200 import maia200_comparison, topology_table
from .plots import write_plots
from .report import print_headline, render, shipped_drift, summarize, target_rows
from .serving import serving_cases


def run(out: Path = OUT, docs: Path = DOCS, data: Path = DATA_DIR, quiet: bool = False) -> dict:
    """Fit and check every dataset in ``data``; write per-case CSVs, plots and the fitted Splitwise
    profiles into ``out`` and ``validation.md`` into ``docs``. Returns the tables."""
    if not (data / "splitwise_sim" / "perf_model.csv").is_file():
        raise FileNotFoundError(f"calibration data not found at {data}")
    t0 = time.time()
    out.mkdir(parents=True, exist_ok=True)
    datasets, cals = ds_mod.gemm_datasets(data)
    coll, cal_ar = ds_mod.collective_datasets(data, cals["h100"])
    datasets += coll
    # Splitwise: start from the shipped calibration (kernel-level factors), fit the stack factors
    sw_cals = {}
    for c in ds_mod.config("datasets")["splitwise"]["chips"]:
        chip = c["chip"]
        ds, cal = ds_mod.splitwise_dataset(data, chip, c["hardware"], catalog.calibration(chip))
        datasets.append(ds)
        sw_cals[chip] = cal
        header = (f"Splitwise 2023 serving-stack profile of the {chip.upper()}, written by "
                  f"`{COMMAND}`.\n"
                  f"Kernel factors from catalog/calibration/{chip}.yaml; stack factors fitted to "
                  "the Splitwise fit split.\n"
                  "Use in a scenario as hardware.calibration: {...} to model that stack.")
        (out / f"calibration_{chip}_splitwise.yaml").write_text(fit.calibration_yaml(cal, header),
                                                                encoding="utf-8")
    ew, ew_cals = ds_mod.elementwise_datasets(data, cals)
    datasets += ew
    a100_ew = {op: c for (chip, op), c in ew_cals.items() if chip == "a100"}
    datasets.append(ds_mod.transformer_layer_dataset(data, catalog.calibration("a100"), a100_ew))
    for ds in datasets:
        ds.report.to_csv(out / f"{ds.key}.csv", index=False)
        if ds.excluded is not None and len(ds.excluded):
            ds.excluded.to_csv(out / f"{ds.key}-excluded.csv", index=False)
    summary = summarize(datasets)
    summary.to_csv(out / "summary.csv", index=False)
    targets = target_rows(summary, datasets)
    maia, qwen = maia200_comparison()
    maia.to_csv(out / "maia200.csv", index=False)
    qwen.to_csv(out / "maia200-qwen25-7b-decode.csv", index=False)
    topo = topology_table()
    topo.to_csv(out / "topology.csv", index=False)
    plots = write_plots(datasets, topo, maia, out)
    drift = shipped_drift(cals, cal_ar)
    serving = serving_cases(data, out)
    text = render(datasets, summary, targets, maia, qwen, topo, drift, sw_cals, plots,
                  time.time() - t0, serving)
    (docs / "validation.md").write_text(text, encoding="utf-8")
    if not quiet:
        print_headline(summary, targets, maia, time.time() - t0, serving)
    return {"summary": summary, "targets": targets, "maia200": maia, "qwen": qwen,
            "datasets": datasets, "serving": serving}


def main(argv: list[str] | None = None) -> int:
    """Command line of the report; exit status 2 when the data is missing."""
    p = argparse.ArgumentParser(prog=COMMAND, description="Accuracy report: fit each chip's "
                                "calibration on part of the public measurements, check the rest.")
    p.add_argument("--out", default=str(OUT),
                   help="folder for CSVs, plots and fitted profiles (default docs/validation)")
    p.add_argument("--docs", default=str(DOCS), help="folder for validation.md (default docs)")
    p.add_argument("--data", default=str(DATA_DIR),
                   help="the measurements (default data/calibration in this repository)")
    args = p.parse_args(argv)
    try:
        run(Path(args.out), Path(args.docs), Path(args.data))
    except FileNotFoundError as e:
        print(f"{COMMAND}: {e}", file=sys.stderr)
        return 2
    return 0
