"""``maiasim plan``: the cheapest fleet per chip and tensor-parallel degree that meets every SLO,
printed as a ranked table (exit 1 when no plan is feasible)."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import pandas as pd

from ..errors import UsageError
from ..plot import pareto
from ..plot.style import release
from ..scenario import Scenario
from ..studies.fleet_plan import plan_fleet
from ..studies.plan import MAX_REPLICAS, plan
from .options import load, output_dir, split_list, with_basis

HELP = "find the cheapest fleet that meets every SLO"

#: the columns of the printed table
SHOW = ("rank", "chip", "tensor_parallel", "replicas", "spares", "chips", "cost_per_hour_usd",
        "usd_per_m_output_tok", "ttft_p99_s", "tpot_p99_s", "e2e_p99_s", "verified",
        "fewer_meets_slo")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``maiasim plan`` arguments."""
    p.description = ("For each chip and tensor-parallel degree, find the fewest replicas that meet "
                     "every workload's SLO at the scenario's load, and rank the plans by cost per "
                     "hour.")
    p.add_argument("scenario")
    p.add_argument("--chips", help="comma-separated catalog chips (default: the scenario's chip)")
    p.add_argument("--tp", help="comma-separated tensor-parallel degrees (default: the scenario's)")
    p.add_argument("--price", action="append", metavar="CHIP=USD",
                   help="USD per chip-hour for a chip on the plan's cost basis, replacing the "
                        "scenario's or catalog's (repeatable)")
    p.add_argument("--basis", choices=("rental", "ownership"),
                   help="price every chip by rental or by ownership (default: the scenario's "
                        "cost.basis); one basis for all chips, so the ranking is like with like")
    p.add_argument("--max-replicas", type=int, default=512,
                   help=f"give up above this many replicas (default 512, at most "
                        f"{MAX_REPLICAS:_})")
    p.add_argument("--spares", type=int, default=0,
                   help="N+k: spare replicas per plan beyond the fewest that meet the SLOs")
    p.add_argument("--availability", type=float, default=None, metavar="P",
                   help="add spares until at least N replicas are up with probability P (e.g. "
                        "0.999), from the scenario's failure rates or the published defaults")
    p.add_argument("--uncertainty", type=int, default=0, metavar="N",
                   help="size for the p95 of N draws of calibration, prices and (with failures "
                        "on) failure times: every latency is judged at its p95 band")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a field first")
    p.add_argument("--executor", choices=("serial", "processes"), default="processes")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("-o", "--output",
                   help="a directory for plan.csv and pareto.png (cost per million output tokens "
                        "against p99 TTFT, every chip shown), or a .csv file for the table alone")
    p.add_argument("--plot", help="PNG file for the Pareto plot (also written into an -o "
                                  "directory)")
    p.add_argument("--no-plots", action="store_true", help="no pareto.png in the -o directory")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def format_plan(df: pd.DataFrame) -> str:
    """The plan frame as a terminal table, then why each infeasible (chip, TP) failed."""
    view = df[[c for c in SHOW if c in df.columns]].copy()
    view = view.rename(columns={"tensor_parallel": "tp", "cost_per_hour_usd": "usd_per_hour"})
    for c in ("rank", "replicas", "spares", "chips", "verified", "fewer_meets_slo"):
        if c in view.columns:
            view[c] = view[c].map(_cell)
    text = view.to_string(index=False, float_format=lambda x: f"{x:,.4g}", na_rep="-")
    bad = df[df.reason.notna()]
    if len(bad):
        text += "\nnot feasible:\n" + "\n".join(f"  {r.chip} TP{r.tensor_parallel}: {r.reason}"
                                                 for _, r in bad.iterrows())
    return text


def _cell(v: object) -> str:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return str(v)


def _slo_text(sc: Scenario) -> str:
    """``chat: ttft_p99_s <= 2, tpot_p99_s <= 0.1; ...``: the targets the plan must meet."""
    return "; ".join(
        f"{w.name}: " + ", ".join(f"{k} <= {v:g}" for k, v in w.slo.model_dump().items()
                                  if v is not None)
        for w in sc.workload if any(v is not None for v in w.slo.model_dump().values()))


def _tightest(sc: Scenario, target: str) -> float | None:
    """The tightest ``target`` (e.g. ``ttft_p99_s``) over the workloads (None: no workload has
    one)."""
    return min((getattr(w.slo, target) for w in sc.workload
                if getattr(w.slo, target) is not None), default=None)


def _parse(args: argparse.Namespace) -> tuple[list[str] | None, list[int] | None,
                                               dict[str, float]]:
    """(chips, tensor-parallel degrees, prices) from the options; UsageError for bad ones."""
    chips = split_list(args.chips, "--chips") if args.chips is not None else None
    tp = None
    if args.tp is not None:
        try:
            tp = [int(t) for t in split_list(args.tp, "--tp")]
        except ValueError:
            raise UsageError(f"--tp {args.tp!r}: expected integers, e.g. 1,2,4,8") from None
    prices = {}
    for item in args.price or []:
        chip, _, val = item.partition("=")
        try:
            prices[chip.strip()] = float(val)
        except ValueError:
            raise UsageError(f"--price {item!r}: expected CHIP=USD, e.g. gb200=6.5") from None
    if not 1 <= args.max_replicas <= MAX_REPLICAS:
        raise UsageError(f"--max-replicas must be in [1, {MAX_REPLICAS:_}] (the schema's limit "
                         f"on deployment.replicas), got {args.max_replicas}")
    if args.spares < 0:
        raise UsageError(f"--spares must be >= 0, got {args.spares}")
    if args.availability is not None and not 0 < args.availability < 1:
        raise UsageError(f"--availability must be a probability in (0, 1), e.g. 0.999, got "
                         f"{args.availability}")
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be >= 1, got {args.workers}")
    return chips, tp, prices


def command(args: argparse.Namespace) -> int:
    """Exit 0 when at least one plan is feasible, 1 when none is, 2 on bad input."""
    chips, tp, prices = _parse(args)
    sc = load(args.scenario, args.set)
    if sc.fleet is not None:
        return _fleet_command(args, sc, chips, tp, prices)
    sc = with_basis(sc, args.basis)
    if args.uncertainty < 0:
        raise UsageError(f"--uncertainty must be >= 0, got {args.uncertainty}")
    if args.uncertainty:
        sc = sc.with_overrides({"uncertainty.samples": args.uncertainty})
    df = plan(sc, chips, tp, max_replicas=args.max_replicas, prices=prices,
              executor=args.executor, max_workers=args.workers,
              progress=not args.quiet and sys.stderr.isatty(), spares=args.spares,
              availability=args.availability)
    print(f"{sc.name}: {sc.model_name}, SLOs {_slo_text(sc)}; cheapest fleet per chip and TP "
          f"(search up to {args.max_replicas} replicas, {int(df.simulations.sum())} simulations)")
    print(f"cost basis: {sc.cost.effective_basis} for every chip (like with like; change it "
          "with --basis)")
    print(format_plan(df))
    feas = df[df.feasible.astype(bool)]
    unpriced = sorted(set(feas[feas.cost_per_hour_usd.isna()].chip))
    if unpriced:
        print(f"note: no {sc.cost.effective_basis} price for {', '.join(unpriced)} (give one "
              "with --price CHIP=USD, or try the other --basis); those plans rank last")
    if len(feas):
        best = feas.iloc[0]
        print(f"best: {int(best.replicas)} x TP{best.tensor_parallel} {best.chip} = "
              f"{int(best.chips)} chips, ${best.cost_per_hour_usd:,.2f}/h, "
              f"${best.usd_per_m_output_tok:,.3g} per million output tokens")
    else:
        print("no feasible plan")
    pngs = [Path(args.plot)] if args.plot else []
    if args.output:
        if args.output.endswith(".csv"):
            out = Path(args.output)
            out.parent.mkdir(parents=True, exist_ok=True)
        else:
            d = output_dir(args.output)
            out = d / "plan.csv"
            pngs += [] if args.no_plots else [d / "pareto.png"]
        df.to_csv(out, index=False)
        print(f"wrote {out}")
    for png in pngs:
        png.parent.mkdir(parents=True, exist_ok=True)
        fig = pareto(df, png, latency="ttft_p99_s", slo=_tightest(sc, "ttft_p99_s"),
                     title=f"{sc.name}: {sc.model_name}, cost versus p99 TTFT of the cheapest "
                           "fleet per chip and TP that meets every SLO")
        release(fig)
        print(f"wrote {png}")
    if not len(feas):
        return 1
    return 0


def _fleet_command(args: argparse.Namespace, sc: Scenario, chips, tp, prices) -> int:
    """A fleet template: search each pool's replica count (pools keep their chip and TP)."""
    if chips or tp or prices or args.plot:
        raise UsageError("--chips, --tp, --price and --plot plan a single pool; a fleet template "
                         "keeps its pools' chips, parallelism and prices (edit them, or --set)")
    df = plan_fleet(sc, max_replicas=args.max_replicas,
                    progress=not args.quiet and sys.stderr.isatty())
    total = df.iloc[-1]
    print(f"{sc.name}: fleet template of {len(sc.pools)} pools, SLOs {_slo_text(sc)}; replicas "
          f"per pool searched ({int(total.simulations)} simulations)")
    show = ["pool", "role", "chip", "model", "tensor_parallel", "replicas", "chips",
            "cost_per_hour_usd", "ttft_p99_s", "tpot_p99_s", "e2e_p99_s", "verified",
            "fewer_meets_slo"]
    view = df[show].rename(columns={"tensor_parallel": "tp", "cost_per_hour_usd": "usd_per_hour"})
    for c in ("tp", "replicas", "chips", "verified", "fewer_meets_slo"):
        view[c] = view[c].map(_cell)
    print(view.to_string(index=False, float_format=lambda x: f"{x:,.4g}", na_rep="-"))
    if args.output:
        out = (Path(args.output) if args.output.endswith(".csv")
               else output_dir(args.output) / "plan.csv")
        out.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(out, index=False)
        print(f"wrote {out}")
    if not bool(total.feasible):
        print(f"no feasible fleet: {total.reason}")
        return 1
    return 0
