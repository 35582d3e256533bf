"""``maiasim calibrate``: fit a chip's calibration factors to measured times, print the fitted
values and the error on fitted and held-out rows, write the calibration YAML."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from .. import catalog
from ..calibrate.fit import calibration_yaml, error_summary, fit_calibration
from ..calibrate.parameters import DEFAULT_PARAMS, KINDS, get_param
from ..errors import ScenarioError
from ..spec.calibration import Calibration
from .calibrate_serving import serving_command

HELP = "fit a chip calibration to measured times (kernels, iterations, or serving benchmarks)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``maiasim calibrate`` arguments."""
    p.add_argument("chip", help="catalog chip name, e.g. h100")
    p.add_argument("kind", choices=(*KINDS, "serving"), help="what the file measures (serving: "
                   "end-to-end runs of `vllm bench serve` / `trtllm-bench`, JSON or CSV)")
    p.add_argument("csv", help="measured times (format per kind: see `maiasim.calibrate.fit` and "
                   "`maiasim.calibrate.serving_io` docs)")
    p.add_argument("-o", "--output", help="write the fitted calibration YAML here")
    p.add_argument("--base", help="calibration YAML to start from (default: the chip's shipped "
                   "calibration)")
    p.add_argument("--params", help="comma-separated factors to fit (default per kind), e.g. "
                   "hbm_fraction,gemm_latency_s")
    p.add_argument("--precision", default="bf16", choices=["bf16", "fp8", "fp4"],
                   help="operand precision of the measurements (serving: the weights')")
    p.add_argument("--hardware", help="iteration kind: Splitwise hardware name to keep, "
                   "e.g. h100-80gb")
    p.add_argument("--model", help="iteration kind: Splitwise model name to keep, e.g. llama2-70b; "
                   "serving kind: the catalog model (default: from the file's model_id)")
    p.add_argument("--stack", help="serving kind: the serving stack the runs used (default: the "
                   "file's `stack` field, else vllm)")
    p.add_argument("--tp", type=int, help="serving kind: tensor-parallel size (default: each "
                   "run's, else 1)")
    p.add_argument("--kv-cache", choices=["bf16", "fp8", "fp4"], help="serving kind: KV-cache "
                   "format (default: the stack's)")
    p.add_argument("--max-num-seqs", type=int, default=256, help="serving kind: the engine's "
                   "max_num_seqs (default 256, vLLM's)")
    p.add_argument("--max-batch-tokens", type=int, default=8192, help="serving kind: the "
                   "engine's max_num_batched_tokens (default 8192)")
    p.add_argument("--memory-fraction", type=float, help="serving kind: the engine's memory "
                   "fraction (vLLM --gpu-memory-utilization; default: the stack's)")
    p.add_argument("--statistic", choices=["mean", "median"], default="mean",
                   help="serving kind: compare mean or median TTFT and TPOT (default mean)")
    p.add_argument("--deployment", help="serving kind: keep only the runs of this deployment "
                   "(the file's `deployment` column), e.g. llama3-8b-tp1")
    p.add_argument("--robust", type=float, default=0.1, metavar="SCALE",
                   help="serving kind: log error above which a run counts linearly, not "
                   "quadratically (soft-L1 loss, so one stalled run cannot drag the fit; default "
                   "0.1; 0 = plain least squares)")
    p.add_argument("--all", action="store_true",
                   help="fit on every row (default: fit on the documented split)")
    p.add_argument("--report", help="write the per-case report CSV here")


def command(args: argparse.Namespace) -> int:
    """Fit, print the factors and errors, write what was asked for."""
    try:
        catalog.chip(args.chip)
    except catalog.UnknownName as e:
        raise ScenarioError(str(e)) from None
    if not Path(args.csv).is_file():
        raise FileNotFoundError(f"no such file: {args.csv}")
    if args.kind == "serving":
        return serving_command(args)
    base = None
    if args.base:
        text = Path(args.base).read_text(encoding="utf-8")
        base = Calibration.model_validate(yaml.safe_load(text))
    params = [s.strip() for s in args.params.split(",")] if args.params else None
    try:
        cal, rep = fit_calibration(args.chip, args.kind, args.csv, base=base, params=params,
                                   precision=args.precision, hardware=args.hardware,
                                   model=args.model, fit_all=args.all)
    except (ValueError, KeyError) as e:
        raise ScenarioError(f"calibrate: {e}") from None
    names = [n.format(prec=args.precision) for n in (params or DEFAULT_PARAMS[args.kind])]
    print(f"{args.chip}: fitted {', '.join(names)} to {len(rep)} rows of {args.csv}")
    for n in names:
        print(f"  {n} = {get_param(cal, n):.6g}")
    print(error_summary(rep).to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    if args.output:
        header = f"maiasim calibrate {args.chip} {args.kind} {args.csv}"
        Path(args.output).write_text(calibration_yaml(cal, header), encoding="utf-8")
        print(f"wrote {args.output}")
    if args.report:
        rep.to_csv(args.report, index=False)
        print(f"wrote {args.report}")
    return 0
