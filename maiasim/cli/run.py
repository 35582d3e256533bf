"""``maiasim run``: simulate a scenario, print its summary, optionally write frames and plots."""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from .. import plot
from ..api import simulate
from .options import load, output_dir, with_basis

HELP = "simulate a scenario and print its summary"

#: the summary columns printed, a terminal-wide selection of the registry's summary columns
SUMMARY_COLUMNS = ("workload", "requests", "completed", "output_tok_s", "ttft_p50_s",
                   "ttft_p99_s", "tpot_p50_s", "tpot_p99_s", "e2e_p99_s", "slo_attainment",
                   "cost_basis", "usd_per_chip_hour", "output_tokens_per_usd",
                   "usd_per_m_output_tok")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``maiasim run`` arguments."""
    p.add_argument("scenario")
    p.add_argument("-o", "--output", help="directory for CSV frames and PNG plots")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a field, e.g. deployment.replicas=8")
    p.add_argument("--basis", choices=("rental", "ownership"),
                   help="price chip-hours by rental or ownership (sets cost.basis)")
    p.add_argument("--price", type=float, metavar="USD",
                   help="USD per chip-hour on the basis, replacing the catalog's figure (sets "
                        "cost.chip_hour_usd)")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def format_summary(df: pd.DataFrame) -> str:
    """The summary frame as a table that fits a terminal: :data:`SUMMARY_COLUMNS` only."""
    view = df[[c for c in SUMMARY_COLUMNS if c in df.columns]]
    return view.to_string(index=False, float_format=lambda x: f"{x:,.4g}")


#: the pools columns printed for a fleet of several pools
POOL_COLUMNS = ("pool", "role", "chip", "model", "chips", "requests", "output_tokens",
                "stepping_frac", "mfu", "kv_mean_frac", "usd_per_chip_hour", "cost_usd",
                "saturated_replicas")


def format_pools(df: pd.DataFrame) -> str:
    """The pools frame as a terminal table: :data:`POOL_COLUMNS` only."""
    return df[list(POOL_COLUMNS)].to_string(index=False, float_format=lambda x: f"{x:,.4g}")


def format_failures(res) -> str:
    """One line on what failures did: outages by component, availability, retries, drops."""
    f, s = res.failures, res.summary.set_index("workload").loc["all"]
    kinds = ", ".join(f"{k} {n}" for k, n in f.component.astype(str).value_counts().items())
    return (f"failures: {len(f)} replica outages ({kinds or 'none'}); availability "
            f"{s.availability:.2%}; {int(s.retried)} requests retried, "
            f"{int(s.dropped_retries_exhausted)} dropped out of retries, "
            f"{int(s.no_replica_available)} ended with no replica up")


def command(args: argparse.Namespace) -> int:
    """Run the scenario; write frames (and plots) to ``-o`` when given."""
    sc = with_basis(load(args.scenario, args.set), args.basis, args.price)
    out = output_dir(args.output) if args.output else None
    res = simulate(sc, progress=not args.quiet and sys.stderr.isatty())
    print(f"{sc.name}: {sc.describe()}, simulated {res.duration_s:,.1f} s")
    print(format_summary(res.summary))
    print(f"cost basis {res.cost_basis}: ${res.chip_hour_usd:,.3f} per chip-hour; "
          f"{res.cost_source}")
    if len(sc.pools) > 1:
        print(format_pools(res.pools))
    if sc.failures is not None and sc.failures.enabled:
        print(format_failures(res))
    for w in res.warnings:
        print(f"maiasim: warning: {w}", file=sys.stderr)
    if out is not None:
        res.to_csv(out)
        if not args.no_plots:
            plot.save_all(res, out)
        print(f"wrote frames{'' if args.no_plots else ' and plots'} to {out}/")
    return 0
