"""``maiasim check``: compare a scenario's summary with its committed baseline (CI), or write the
baseline. Exit 0 within tolerance, 1 on a regression, 2 on bad input."""

from __future__ import annotations

import argparse
import sys

from ..errors import UsageError
from ..studies.baseline import REGENERATE, default_baseline, writable
from ..studies.check import CheckReport, check, check_all, junit, update, update_all
from ..studies.tolerances import parse_tolerances
from .options import parse_sets

HELP = "compare a scenario's summary against a baseline (CI)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``maiasim check`` arguments."""
    p.description = ("Run a scenario and compare its summary with a baseline CSV. Exit 0 within "
                     "tolerance, 1 when a metric got worse beyond its tolerance, 2 on bad input.")
    p.add_argument("scenario", nargs="?", help="scenario YAML (not with --update-all/--check-all)")
    p.add_argument("--baseline", "-b", help="baseline CSV (default: baselines/<scenario stem>.csv)")
    p.add_argument("--tolerance", "-t", action="append", metavar="METRIC=TOL[,...]",
                   help="e.g. ttft_p99_s=10%%,output_tokens_per_usd=5%% (relative), "
                        "slo_attainment=0.02 (absolute), e2e_p99_s=off; overrides the defaults")
    p.add_argument("--update", action="store_true",
                   help="write the baseline from this run instead of checking")
    p.add_argument("--junit", metavar="REPORT.xml", help="also write a JUnit XML report")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a field first")
    p.add_argument("--all", dest="show_all", action="store_true",
                   help="show every compared metric, not only changes")
    p.add_argument("--update-all", nargs=2, metavar=("SCENARIO_DIR", "BASELINE_DIR"),
                   help="write BASELINE_DIR/<stem>.csv for every SCENARIO_DIR/*.yaml")
    p.add_argument("--check-all", nargs=2, metavar=("SCENARIO_DIR", "BASELINE_DIR"),
                   help="check every SCENARIO_DIR/*.yaml against BASELINE_DIR/<stem>.csv")


def command(args: argparse.Namespace) -> int:
    """Check, update, or do either for a whole directory; bad input fails before any run."""
    if args.update_all or args.check_all:
        if args.scenario or args.baseline or args.update or args.set:
            raise UsageError("--update-all/--check-all take two directories and no scenario, "
                             "--baseline, --update or --set")
        if args.update_all and args.check_all:
            raise UsageError("give --update-all or --check-all, not both")
    elif not args.scenario:
        raise UsageError("give a scenario file (or --update-all/--check-all SCENARIO_DIR "
                         "BASELINE_DIR)")
    # bad tolerance syntax or --junit path: exit 2 before running, not a traceback after
    tol = parse_tolerances(args.tolerance) if args.tolerance else None
    if args.junit:
        writable(args.junit, "--junit")

    if args.update_all:
        for p in update_all(*args.update_all):
            print(f"wrote {p}")
        return 0
    if args.check_all:
        reports = check_all(*args.check_all, tolerance=tol)
        for rep in reports:
            _print(rep, args.show_all)
        if args.junit:
            junit(reports, args.junit)
            print(f"wrote {args.junit}")
        bad = [r.scenario for r in reports if not r.passed]
        print(f"{len(reports) - len(bad)} of {len(reports)} scenarios pass"
              + (f"; regressed: {', '.join(bad)}" if bad else ""))
        return 1 if bad else 0

    sets = parse_sets(args.set)
    baseline = args.baseline or default_baseline(args.scenario)
    if args.update:
        p = update(args.scenario, baseline, sets)
        print(f"wrote baseline {p}")
        return 0
    rep = check(args.scenario, baseline, tol, sets)
    _print(rep, args.show_all)
    if args.junit:
        rep.to_junit(args.junit)
        print(f"wrote {args.junit}")
    return 0 if rep.passed else 1


def _print(rep: CheckReport, show_all: bool) -> None:
    for n in rep.notes:
        print(n, file=sys.stderr)
    print(rep.headline())
    print(rep.table(show_all=show_all))
    if not rep.passed:
        print(f"if the change is intended, regenerate the baseline: maiasim check <scenario> "
              f"--update (all: {REGENERATE})")
