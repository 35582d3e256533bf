"""``maiasim calibrate CHIP serving FILE``: fit a serving stack's factors to end-to-end benchmark
runs (``vllm bench serve`` / ``trtllm-bench`` results), print them with the error on every run,
write them as a scenario overlay."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from .. import catalog
from ..calibrate.serving import (
    DEFAULT_SERVING_PARAMS,
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
    cal = {k: float(f"{v:.6g}") for k, v in fit.fitted.items() if not k.startswith("front_end_")}
    fe = {k.removeprefix("front_end_"): float(f"{v:.6g}") for k, v in fit.front_end.items()}
    data: dict = {"hardware": {"chip": fit.setup.chip, "calibration": cal},
                  "deployment": {"stack": fit.setup.stack}}
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


def serving_command(args: argparse.Namespace) -> int:
    """Read the runs, fit, print the factors and errors, write what was asked for."""
    cases = read_serving(args.csv)
    model = args.model or _one(cases["model"], "model", args.csv)
    if not model:
        raise ScenarioError(f"{args.csv}: no field 'model_id' names the model; give --model")
    tps = {int(t) for t in cases["tp"] if t}
    tp = args.tp or (tps.pop() if len(tps) == 1 else 1)
    if args.tp is None and len(tps) > 1:
        raise ScenarioError(f"{args.csv}: runs at several tensor-parallel sizes; give --tp")
    try:
        name = model if model in catalog.models() else catalog_model(model)
    except ValueError as e:
        raise ScenarioError(f"{args.csv}: field 'model_id': {e}") from None
    stack = args.stack or _one(cases["stack"], "stack", args.csv) or "vllm"
    try:
        catalog.stack(stack)
    except catalog.UnknownName as e:
        raise ScenarioError(str(e)) from None
    base = None
    if args.base:
        base = Calibration.model_validate(yaml.safe_load(Path(args.base).read_text("utf-8")))
    setup = ServingSetup(chip=args.chip, model=name, stack=stack, tp=int(tp),
                         weights=args.precision, kv_cache=args.kv_cache,
                         max_num_seqs=args.max_num_seqs, max_batch_tokens=args.max_batch_tokens)
    params = [s.strip() for s in args.params.split(",")] if args.params else None
    try:
        fit = fit_serving(setup, cases, base=base, params=params)
    except ValueError as e:
        raise ScenarioError(f"calibrate: {e}") from None
    names = params or list(DEFAULT_SERVING_PARAMS)
    print(f"{args.chip} {name} TP{tp} {stack}: fitted {', '.join(names)} to {len(cases)} runs "
          f"of {args.csv}")
    for n in names:
        print(f"  {n} = {fit.fitted[n]:.6g}")
    rep = fit.report
    cols = ["concurrency", "rate_per_s", "prompt_tokens", "output_tokens"]
    show = rep[cols].copy()
    for c in ("throughput_tok_s", "ttft_s", "tpot_s"):
        show[c] = rep[c]
        show[f"pred_{c}"] = rep[f"predicted_{c}"]
        show[f"err_{c[:4]}_%"] = rep[f"error_{c}_pct"]
    print(show.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    print(serving_error_summary(rep).to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    sets = " ".join(f"--set {k}={v:.6g}" for k, v in fit.overrides().items())
    print(f"use it: maiasim run SCENARIO --set deployment.stack={stack} {sets}")
    if args.output:
        header = (f"maiasim calibrate {args.chip} serving {args.csv} --stack {stack} "
                  f"--model {name} --tp {tp}\nfitted to {len(cases)} runs; paste these "
                  f"sections into a scenario (or use --set)")
        Path(args.output).write_text(overlay_yaml(fit, header), encoding="utf-8")
        print(f"wrote {args.output}")
    if args.report:
        rep.to_csv(args.report, index=False)
        print(f"wrote {args.report}")
    return 0
