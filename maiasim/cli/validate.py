"""``maiasim validate``: check a scenario file without simulating it: everything ``run`` would
refuse (schema, fit in memory, parallelism, policies, trace files and aliases, request count)."""

from __future__ import annotations

import argparse

from .. import engine, workload
from ..build import build_fleet
from .options import load

HELP = "check a scenario file without running it"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``maiasim validate`` arguments."""
    p.add_argument("scenario")
    p.add_argument("--set", action="append", metavar="KEY=VALUE")


def command(args: argparse.Namespace) -> int:
    """Load and resolve the scenario (raises on any problem) and print what it would run."""
    sc = load(args.scenario, args.set)
    fleet = build_fleet(sc)
    engine.check(sc)
    requests = workload.check(sc)  # the same checks run makes before drawing any request
    print(f"{args.scenario}: valid. {sc.describe()}; about {requests:,.0f} requests expected in "
          f"{sc.horizon_s:g} s")
    for b in fleet.pools:
        mem = b.memory
        name = "" if sc.fleet is None else f"{b.pool.name}: "
        print(f"  {name}serving stack {b.serving.stack} ({b.serving.policy} scheduler, "
              f"{b.precisions.kv_cache} KV); per chip {mem.weights_bytes / 1e9:.1f} GB weights, "
              f"KV cache {mem.kv_capacity_tokens:,} tokens per replica")
    return 0
