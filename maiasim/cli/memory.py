"""``maiasim memory``: where one replica's memory goes (weights, activations, CUDA graphs, KV
cache) and how many tokens and sequences its KV cache holds, without simulating anything."""

from __future__ import annotations

import argparse

from ..results.memory import ROWS, memory_plan
from .options import load

HELP = "show a scenario's memory plan: weights, activations, KV capacity per chip and replica"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``maiasim memory`` arguments."""
    p.add_argument("scenario")
    p.add_argument("--set", action="append", metavar="KEY=VALUE")


def command(args: argparse.Namespace) -> int:
    """Print the memory plan as a table (GB for bytes), one per pool of a fleet."""
    df = memory_plan(load(args.scenario, args.set))
    if "pools" not in df.attrs:
        _print(args.scenario, df)
        return 0
    for name in df.attrs["pools"]:
        part = df.loc[name]
        part.attrs = df.attrs["pools"][name]
        _print(f"{args.scenario} [pool {name}]", part)
    return 0


def _print(title: str, df) -> None:
    a = df.attrs
    print(f"{title}: {a['model']} ({a['weights_format']} weights, {a['kv_cache']} KV cache) on "
          f"{a['chip']}, {a['chips_per_replica']} chip(s) per replica; stack {a['stack']}: memory "
          f"fraction {a['memory_fraction']:g} of "
          f"{'free memory after weights' if a['semantics'] == 'free' else 'total memory'} "
          f"({a['semantics']} semantics)")
    print(f"{'':24}{'per chip':>16}{'per replica':>16}")
    for name, _unit, _ in ROWS:
        row = df.loc[name]
        if row.unit == "bytes" and name != "kv_bytes_per_token":
            cells = [f"{v / 1e9:,.2f} GB" for v in (row.per_chip, row.per_replica)]
        elif row.unit == "bytes":
            cells = [f"{v:,.0f} B" for v in (row.per_chip, row.per_replica)]
        else:
            cells = [f"{v:,.0f}" for v in (row.per_chip, row.per_replica)]
        print(f"{name:24}{cells[0]:>16}{cells[1]:>16}")
