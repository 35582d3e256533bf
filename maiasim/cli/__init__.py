"""The ``maiasim`` command line: run, validate, memory, catalog, sweep, plan, check, calibrate,
schema.

Each subcommand is a module of this package with ``HELP``, ``add_arguments(parser)`` and
``command(args) -> exit status``; :func:`main` builds the parser from :data:`COMMANDS` and is the
one place that turns errors into exit statuses: 0 success, 1 a check found a regression (or a plan
found no feasible fleet), 2 bad input (one line on stderr, no traceback), 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from types import ModuleType

from .. import __version__
from ..errors import DoesNotFit, ScenarioError, UsageError
from . import calibrate, catalog, check, memory, plan, run, schema, sweep, validate

#: the subcommands, in the order ``maiasim --help`` lists them
COMMANDS: dict[str, ModuleType] = {
    "run": run, "validate": validate, "memory": memory, "catalog": catalog, "sweep": sweep,
    "plan": plan, "check": check, "calibrate": calibrate, "schema": schema,
}

#: errors that are the input's fault, not a bug: one line on stderr and exit 2. OSError is a file
#: that cannot be read or written (ConnectionError, a Dask scheduler out of reach, is one too)
BAD_INPUT = (ScenarioError, DoesNotFit, UsageError, OSError)


def build_parser() -> argparse.ArgumentParser:
    """The ``maiasim`` parser with one subparser per entry of :data:`COMMANDS`."""
    p = argparse.ArgumentParser(prog="maiasim",
                                description="Simulate LLM serving on racks of AI accelerators.")
    p.add_argument("--version", action="version", version=f"maiasim {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for name, mod in COMMANDS.items():
        sp = sub.add_parser(name, help=mod.HELP)
        mod.add_arguments(sp)
        sp.set_defaults(func=mod.command)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one ``maiasim`` command line (``argv``, default ``sys.argv[1:]``); returns the exit
    status. Argparse's own usage errors exit 2 through SystemExit, as argparse does."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BAD_INPUT as e:
        print(f"maiasim: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("maiasim: interrupted", file=sys.stderr)
        return 130
