"""Dotted-path changes to a scenario: ``{"deployment.replicas": 8, "workload.0.arrival.cv": 2}``.

The one implementation behind ``--set`` on the command line, ``load_scenario(path, overrides)``,
:meth:`Scenario.with_overrides` and every sweep or plan point. It works on the plain dict of a
scenario, before validation, so an override is validated exactly like the same value in a file.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ..errors import ScenarioError

__all__ = ["apply_overrides", "deep_merge"]


def deep_merge(base: dict, over: Mapping) -> dict:
    """A copy of ``base`` with ``over`` merged in, mapping by mapping (a chip or calibration
    changed in a few keys keeps the rest of its catalog figures)."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def _set_path(data: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node: Any = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ScenarioError(f"{dotted}: {part!r} is not a valid index "
                                    f"(the list has {len(node)} items)")
            idx = int(part)
            if last:
                node[idx] = value
            else:
                node = node[idx]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                if node.get(part) is None:
                    node[part] = {}
                node = node[part]
        else:
            raise ScenarioError(f"{dotted}: cannot set a field inside "
                                f"{'.'.join(parts[:i])!r} (a {type(node).__name__})")


def apply_overrides(data: dict, overrides: Mapping[str, Any]) -> None:
    """Set dotted paths in a scenario dict, keeping chips = replicas x TP x PP consistent.

    Setting ``deployment.replicas`` (and not ``hardware.chips``) drops the old chip count, so it
    is derived again; setting ``hardware.chips`` or the parallelism (and not the replicas) drops
    the old replica count. A sweep over one of them then moves the fleet instead of failing on a
    count that no longer matches."""
    keys = set(overrides)
    for key, value in overrides.items():
        _set_path(data, key, value)
    hw, dep = data.get("hardware"), data.get("deployment")
    if not isinstance(hw, dict) or not isinstance(dep, dict):
        return
    if "deployment.replicas" in keys and "hardware.chips" not in keys:
        hw["chips"] = None
    elif keys & {"hardware.chips", "deployment.tensor_parallel",
                 "deployment.pipeline_parallel", "deployment.expert_parallel"} and \
            "deployment.replicas" not in keys and hw.get("chips") is not None:
        dep["replicas"] = None
