"""``maiasim validate``: check a scenario file without simulating it: everything ``run`` would
refuse (schema, fit in memory, parallelism, policies, trace files and aliases, request count)."""

from __future__ import annotations

import argparse

from .. import engine, workload
from ..build import build
from .options import load

HELP = "check a scenario file without running it"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``maiasim validate`` arguments."""
    p.add_argument("scenario")
    p.add_argument("--set", action="append", metavar="KEY=VALUE")


def command(args: argparse.Namespace) -> int:
    """Load and resolve the scenario (raises on any problem) and print what it would run."""
    sc = load(args.scenario, args.set)
    b = build(sc)
    mem = b.memory
    engine.check(sc)
    requests = workload.check(sc)  # the same checks run makes before drawing any request
    print(f"{args.scenario}: valid. {sc.chips} x {sc.chip_name}, {sc.replicas} replicas, model "
          f"{sc.model_name}, serving stack {b.serving.stack} ({b.serving.policy} scheduler, "
          f"{b.precisions.kv_cache} KV); per chip {mem.weights_bytes / 1e9:.1f} GB weights, KV "
          f"cache {mem.kv_capacity_tokens:,} tokens per replica; about {requests:,.0f} requests "
          f"expected in {sc.horizon_s:g} s")
    return 0
