"""``maiasim calibrate CHIP serving FILE``: fit a serving stack's factors to end-to-end benchmark
runs (``vllm bench serve`` / ``trtllm-bench`` results), print them with the error on every run,
write them as a scenario overlay."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import yaml

from .. import catalog
from ..calibrate.serving import (
    DEFAULT_SERVING_PARAMS,
    FRONT_END,
    REPLAY_ONLY,
    ServingFit,
    ServingSetup,
    catalog_model,
    fit_serving,
    serving_error_summary,
)
from ..calibrate.serving_io import read_serving
from ..errors import ScenarioError
from ..spec.calibration import Calibration


def overlay_yaml(fit: ServingFit, header: str) -> str:
    """The fit as the scenario sections it changes (``hardware.calibration``,
    ``deployment.stack`` and ``deployment.front_end``), to paste into a scenario."""
    cal = {k: float(f"{v:.6g}") for k, v in fit.fitted.items() if k not in FRONT_END}
    fe = {k.removeprefix("front_end_"): float(f"{v:.6g}") for k, v in fit.front_end.items()
          if k not in REPLAY_ONLY}
    data: dict = {"hardware": {"chip": fit.setup.chip, "calibration": cal},
                  "deployment": {"stack": fit.setup.stack}}
    replay = {k: float(f"{v:.6g}") for k, v in fit.fitted.items() if k in REPLAY_ONLY}
    if replay:
        header += ("\nreplay-only factors (no scenario field): "
                   + ", ".join(f"{k} = {v:g}" for k, v in replay.items()))
    if fe:
        data["deployment"]["front_end"] = fe
    head = "".join(f"# {line}\n" for line in header.splitlines())
    return head + yaml.safe_dump(data, sort_keys=False, width=100)


def _one(values, what: str, path: str) -> str:
    vals = sorted({str(v) for v in values if str(v)})
    if len(vals) > 1:
        raise ScenarioError(f"{path}: runs of several {what}s ({', '.join(vals)}); fit one at a "
                            f"time (keep one in the file, or give --{what})")
    return vals[0] if vals else ""


def _setup(args: argparse.Namespace, cases) -> ServingSetup:
    """What the runs ran on: the options, else the file's fields (each run's own model and TP)."""
    if args.model:
        try:
            model = args.model if args.model in catalog.models() else catalog_model(args.model)
        except ValueError as e:
            raise ScenarioError(f"--model: {e}") from None
    else:
        model = ""
        for where, m in zip(cases["source"], cases["model"], strict=True):
            if not m:
                raise ScenarioError(f"{where}: no field 'model_id' names the model; give --model")
            try:
                catalog_model(m)
            except ValueError as e:
                raise ScenarioError(f"{where}: field 'model_id': {e}") from None
    stack = args.stack or _one(cases["stack"], "stack", args.csv) or "vllm"
    try:
        catalog.stack(stack)
    except catalog.UnknownName as e:
        raise ScenarioError(str(e)) from None
    return ServingSetup(chip=args.chip, model=model, stack=stack, tp=args.tp or 0,
                        weights=args.precision, kv_cache=args.kv_cache,
                        max_num_seqs=args.max_num_seqs, max_batch_tokens=args.max_batch_tokens,
                        memory_fraction=args.memory_fraction)


def serving_command(args: argparse.Namespace) -> int:
    """Read the runs, fit, print the factors and errors, write what was asked for."""
    cases = read_serving(args.csv, args.statistic)
    if args.deployment:
        known = sorted(set(cases.get("deployment", pd.Series(dtype=str)).dropna()))
        if args.deployment not in known:
            have = ", ".join(known) or "no deployment column"
            raise ScenarioError(f"--deployment: {args.deployment!r} is not a deployment of "
                                f"{args.csv} (it has: {have})")
        cases = cases[cases.deployment == args.deployment]
    setup = _setup(args, cases)
    base = None
    if args.base:
        base = Calibration.model_validate(yaml.safe_load(Path(args.base).read_text("utf-8")))
    params = [s.strip() for s in args.params.split(",")] if args.params else None
    if args.all and "split" in cases:
        cases = cases.drop(columns="split")
    try:
        fit = fit_serving(setup, cases, base=base, params=params,
                          robust=args.robust or None)
    except ValueError as e:
        raise ScenarioError(f"calibrate: {e}") from None
    names = params or list(DEFAULT_SERVING_PARAMS)
    print(f"{args.chip} {setup.stack}: fitted {', '.join(names)} to "
          f"{int((cases.split == 'fit').sum()) if 'split' in cases else len(cases)} of "
          f"{len(cases)} runs of {args.csv} ({args.statistic} TTFT and TPOT)")
    for n in names:
        note = "  (replay only: no scenario field)" if n in REPLAY_ONLY else ""
        print(f"  {n} = {fit.fitted[n]:.6g}{note}")
    rep = fit.report
    cols = [c for c in ("case", "split") if c in rep] + ["requests", "concurrency", "rate_per_s"]
    show = rep[cols].copy()
    for c in ("throughput_tok_s", "ttft_s", "tpot_s"):
        show[c] = rep[c]
        show[f"pred_{c}"] = rep[f"predicted_{c}"]
        show[f"err_{c[:4]}_%"] = rep[f"error_{c}_pct"]
    print(show.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    by = ["split"] if "split" in rep else []
    print(serving_error_summary(rep, by).to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    sets = " ".join(f"--set {k}={v:.6g}" for k, v in fit.overrides().items())
    print(f"use it: maiasim run SCENARIO --set deployment.stack={setup.stack} {sets}")
    if args.output:
        header = (f"maiasim calibrate {args.chip} serving {args.csv} --stack {setup.stack}\n"
                  f"fitted to {len(cases)} runs; paste these sections into a scenario (or use "
                  f"--set)")
        Path(args.output).write_text(overlay_yaml(fit, header), encoding="utf-8")
        print(f"wrote {args.output}")
    if args.report:
        rep.drop(columns=["lengths"]).to_csv(args.report, index=False)
        print(f"wrote {args.report}")
    return 0
