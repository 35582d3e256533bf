"""What every scenario model shares: the strict base class and frozen mappings.

A scenario is frozen so that it can be hashed into a cache key, shared between processes and
compared by value; its free-form mappings (chip overrides, calibration changes) must then be
frozen too, or ``sc.hardware.calibration["x"] = 1`` would change a "frozen" scenario in place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..spec.hardware import Spec

__all__ = ["ConfigModel", "FrozenDict", "freeze", "thaw"]


class ConfigModel(Spec):
    """Base of the scenario's models: frozen, unknown keys refused, finite floats, numbers only."""


class FrozenDict(dict):
    """A dict that cannot be changed in place, so a frozen Scenario stays frozen. Pickles and
    deep-copies as itself; ``model_dump`` gives plain dicts."""

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("a scenario cannot be changed in place; use sc.with_overrides({...})")

    __setitem__ = __delitem__ = __ior__ = _refuse  # type: ignore[assignment]
    clear = pop = popitem = setdefault = update = _refuse  # type: ignore[assignment]

    def __reduce__(self):
        return (FrozenDict, (dict(self),))


def freeze(v: Any) -> Any:
    """Mappings become FrozenDicts and lists tuples, recursively."""
    if isinstance(v, Mapping):
        return FrozenDict({k: freeze(x) for k, x in v.items()})
    if isinstance(v, (list, tuple)):
        return tuple(freeze(x) for x in v)
    return v


def thaw(v: Any) -> Any:
    """The inverse of :func:`freeze`: plain dicts and lists a caller may change."""
    if isinstance(v, Mapping):
        return {k: thaw(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [thaw(x) for x in v]
    return v
