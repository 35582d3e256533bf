"""Parsing of the options several subcommands share: ``--set``, ``--grid``, comma lists, ``-o``.

Every mistake is a :class:`~maiasim.errors.UsageError` naming the option, so the command line
reports it in one line (exit 2) before any simulation time is spent.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from ..errors import LimitExceeded, ScenarioError, UsageError
from ..scenario import Scenario, load_scenario, load_yaml


def parse_sets(items: Sequence[str] | None) -> dict[str, Any]:
    """``--set key=value`` pairs; values are parsed as YAML (numbers, booleans, lists), with the
    scenario loader's limits, and kept as text when they are not YAML."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise UsageError(f"--set {item!r}: expected key=value, e.g. deployment.replicas=8")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = load_yaml(v, f"--set {k.strip()}")
        except LimitExceeded:  # an alias bomb is no plain string
            raise
        except ScenarioError:
            out[k.strip()] = v
    return out


def load(path: str, sets: Sequence[str] | None = None) -> Scenario:
    """The scenario file at ``path`` with the ``--set`` pairs applied."""
    return load_scenario(path, parse_sets(list(sets or [])))


def parse_grid(items: Sequence[str] | None) -> dict[str, list]:
    """``--grid key=v1,v2`` (values are YAML scalars) or ``key=[v1, v2]`` (a YAML list); a key
    given twice gets both lists."""
    grid: dict[str, list] = {}
    for item in items or []:
        if "=" not in item:
            raise UsageError(f"--grid {item!r}: expected key=v1,v2, e.g. "
                             "deployment.tensor_parallel=2,4,8")
        key, text = (s.strip() for s in item.split("=", 1))
        if not key or not text:
            raise UsageError(f"--grid {item!r}: expected key=v1,v2")
        values = None
        if text.startswith("["):
            try:
                parsed = yaml.safe_load(text)
            except yaml.YAMLError:
                parsed = None
            if isinstance(parsed, list):
                values = parsed
        if values is None:
            values = []
            for part in text.split(","):
                part = part.strip()
                try:
                    values.append(yaml.safe_load(part) if part else None)
                except yaml.YAMLError:
                    values.append(part)
        grid.setdefault(key, []).extend(values)
    if not grid:
        raise UsageError("give at least one --grid key=v1,v2")
    return grid


def split_list(text: str, what: str) -> list[str]:
    """``a, b,c`` -> ``["a", "b", "c"]``; an empty list is a usage error naming option ``what``."""
    items = [s.strip() for s in str(text).split(",") if s.strip()]
    if not items:
        raise UsageError(f"{what}: give a comma-separated list")
    return items


def output_dir(path: str) -> Path:
    """The ``-o`` directory, created and proven writable before any simulation time is spent."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--output {out}: exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as e:
        raise UsageError(f"--output {out}: cannot write there ({e.strerror or e})") from None
    return out


def with_basis(sc: Scenario, basis: str | None, price: float | None = None) -> Scenario:
    """``sc`` priced on ``basis`` (``--basis``) and at ``price`` (``--price``, USD per chip-hour).

    A scenario's own ``chip_hour_usd`` was written for its own basis (a bare one is a rental
    price), so switching to the other basis drops it rather than relabelling it."""
    over: dict = {}
    if basis is not None:
        over["cost.basis"] = basis
        if basis != sc.cost.effective_basis:
            over["cost.chip_hour_usd"] = None
    if price is not None:
        over["cost.chip_hour_usd"] = float(price)
    return sc.with_overrides(over) if over else sc
