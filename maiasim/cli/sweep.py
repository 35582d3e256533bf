"""``maiasim sweep``: run a grid of scenario variants and print one row per run, with
confidence intervals when there are replications."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..errors import UsageError
from ..plot import load_latency
from ..plot.style import release
from ..studies.executors import EXECUTORS
from ..studies.stats import confidence
from ..studies.sweep import sweep
from .options import load, output_dir, parse_grid

HELP = "run a grid of scenario variants"

#: the columns of the printed run table, after the grid keys and the replication
SHOW = ("chips", "replicas", "output_tok_s", "ttft_p99_s", "tpot_p99_s", "e2e_p99_s",
        "slo_attainment", "slo_met", "output_tokens_per_usd", "error")

#: the metrics of the printed interval table
CI_SHOWN = ("output_tok_s", "ttft_p99_s", "tpot_p99_s", "output_tokens_per_usd")

#: metrics whose zero spread over replications means the arrivals redrew nothing
SPREAD = ("output_tok_s", "ttft_p99_s", "tpot_p99_s")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``maiasim sweep`` arguments."""
    p.description = ("Run every combination of --grid values (each --replications times) and "
                     "write one row per point and replication.")
    p.add_argument("scenario")
    p.add_argument("--grid", action="append", metavar="KEY=V1,V2", required=True,
                   help="a dotted field and its values, e.g. deployment.tensor_parallel=2,4,8 "
                        "(repeatable)")
    p.add_argument("--replications", "-r", type=int, default=1,
                   help="runs per point with independent seeds (default 1)")
    p.add_argument("--executor", choices=EXECUTORS, default="processes")
    p.add_argument("--workers", type=int, default=None,
                   help="processes or local Dask workers (default: all cores / 2)")
    p.add_argument("--address", default=None,
                   help="Dask scheduler address, e.g. tcp://host:8786 (executor dask)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a field for every point")
    p.add_argument("--level", type=float, default=0.95,
                   help="confidence level for the replication summary")
    p.add_argument("-o", "--output",
                   help="a directory for sweep.csv and, when a swept key sets the load (an "
                        "arrival ...rate_per_s or a trace's ...time_scale), load_latency.png (the "
                        "knee); or a .csv file for the frame alone")
    p.add_argument("--no-plots", action="store_true", help="no load_latency.png in -o")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def format_table(df: pd.DataFrame, cols: Sequence[str]) -> str:
    """Sweep rows as a terminal table: the given columns, errors cut to 90 characters."""
    view = df[[c for c in cols if c in df.columns]].copy()
    if "error" in view.columns:
        view["error"] = view["error"].map(_short_error)
    return view.to_string(index=False, float_format=lambda x: f"{x:,.4g}", na_rep="-")


def _short_error(e: object) -> object:
    if e is None or (isinstance(e, float) and math.isnan(e)):
        return ""
    return e if len(e) <= 90 else e[:87] + "..."


def _pm(mean: float, lo: float, hi: float) -> str:
    """``mean +- half-width``, or the mean alone when there is no interval."""
    if math.isnan(mean):
        return "-"
    if math.isnan(lo):
        return f"{mean:.4g}"
    return f"{mean:.4g} +- {(hi - lo) / 2:.2g}"


def command(args: argparse.Namespace) -> int:
    """Check the options, run the sweep, print the runs (and intervals), write ``-o``."""
    if args.replications < 1:
        raise UsageError(f"--replications must be >= 1, got {args.replications}")
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be >= 1, got {args.workers}")
    if not 0 < args.level < 1:
        raise UsageError(f"--level must be in (0, 1), got {args.level}")
    if args.address and args.executor != "dask":
        raise UsageError("--address needs --executor dask")
    sc = load(args.scenario, args.set)
    grid = parse_grid(args.grid)
    try:
        df = sweep(sc, grid, replications=args.replications, executor=args.executor,
                   max_workers=args.workers, address=args.address,
                   progress=not args.quiet and sys.stderr.isatty())
    except (ImportError, ConnectionError) as e:  # no dask, or no scheduler there: the input's
        raise UsageError(str(e)) from None
    keys = df.attrs["grid"]
    print(f"{sc.name}: {len(df)} runs ({len(df) // args.replications} points x "
          f"{args.replications} replications), executor {args.executor}")
    print(format_table(df, [*keys, "replication", *SHOW]))
    if args.replications > 1:
        ci = confidence(df, metrics=list(CI_SHOWN), level=args.level)
        cols = [*[k for k in keys if k != "seed"], "n"]
        for m in CI_SHOWN:
            ci[m] = [_pm(a, lo, hi) for a, lo, hi in
                     zip(ci[f"{m}_mean"], ci[f"{m}_ci_low"], ci[f"{m}_ci_high"], strict=True)]
            cols.append(m)
        print(f"\nmean +- {args.level:.0%} confidence half-width (Student t) over replications:")
        print(ci[cols].to_string(index=False))
        spread = [f"{m}_std" for m in SPREAD]
        if ci["n"].max() >= 2 and (ci[spread].fillna(0) == 0).all().all():
            print("note: the replications agree exactly: trace-replay arrivals redraw nothing "
                  "between seeds")
    failed = int(df.error.notna().sum())
    if failed:
        print(f"\n{failed} of {len(df)} runs failed (see the error column)")
    if args.output:
        d = None if args.output.endswith(".csv") else output_dir(args.output)
        out = Path(args.output) if d is None else d / "sweep.csv"
        if out.parent and not out.parent.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(out, index=False)
        print(f"wrote {out}")
        if d is not None and not args.no_plots:
            _plot_knee(df, keys, sc, d / "load_latency.png")
    return 0


def _plot_knee(df: pd.DataFrame, keys: list[str], sc, png: Path) -> None:
    """load_latency.png when a swept key sets the load: an arrival rate (``...rate_per_s``), or a
    trace's ``time_scale`` (the load is then 1 / time_scale times the trace's recorded rate)."""
    rate, unit = next((k for k in keys if k.endswith("rate_per_s")), None), "requests/s"
    scale = next((k for k in keys if k.endswith("time_scale")), None)
    if rate is None and scale is not None:
        rate, unit = f"1 / {scale}", "x the trace's recorded rate"
        df = df.assign(**{rate: 1.0 / df[scale].astype(float)})
    if rate is None:
        return
    several = sum(any(v is not None for v in w.slo.model_dump().values())
                  for w in sc.workload) > 1
    fig = load_latency(df, png, rate=rate, unit=unit, slo=_targets(sc),
                       title=f"{sc.name}: {sc.model_name} on {sc.chips} x {sc.chip_name}, p99 "
                             "latency against offered load" +
                       ("\np99 over all workloads' requests; dashed: the tightest workload's "
                        "target" if several else ""))
    release(fig)
    print(f"wrote {png}")


def _targets(sc) -> dict[str, float]:
    """The tightest p99 target of each kind over the workloads."""
    out: dict[str, float] = {}
    for w in sc.workload:
        for k, v in w.slo.model_dump().items():
            if v is not None:
                out[k] = min(v, out.get(k, v))
    return out
