"""Validation errors as one message a user can act on.

pydantic reports every problem with its own framing, union-branch tags and the full input value.
A scenario error instead lists each problem once as ``path: what is wrong (got value)``, at most
:data:`MAX_PROBLEMS` of them, with every shown value bounded: the input may be huge, deeply nested,
shared by aliases or (from the Python API) an object whose ``repr`` fails, and formatting it must
never cost more than the mistake it reports.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..errors import ScenarioError

__all__ = ["MAX_PROBLEMS", "format_validation_error", "validate", "validate_nested"]

_M = TypeVar("_M", bound=BaseModel)

#: Union-branch tags pydantic puts in an error's location; they add nothing for the reader.
_BRANCH_TAGS = frozenset({"poisson", "gamma", "burst", "closed_loop", "trace", "fixed", "uniform",
                          "lognormal", "str", "ChipSpec", "ModelSpec"})
#: Problems listed in one message; the rest are counted.
MAX_PROBLEMS = 20


def _fmt_loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _BRANCH_TAGS or str(part).startswith("function-"):
            continue  # discriminator / union branch tags add nothing for the reader
        else:
            out += ("." if out else "") + _clip(str(part), 40)
    return out or "(top level)"


class _ShortRepr(reprlib.Repr):
    """reprlib with every size bounded: huge, deep or shared (alias-expanded) input, integers of
    thousands of digits and objects whose repr fails all render in constant time."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel, self.maxstring, self.maxother = 3, 60, 60
        self.maxlist = self.maxtuple = self.maxdict = self.maxset = 4

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 200:
            return f"<integer of {math.floor(x.bit_length() * math.log10(2)) + 1} digits>"
        return super().repr_int(x, level)


_SHORT = _ShortRepr()


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def _show(value: Any) -> str:
    try:
        return _clip(_SHORT.repr(value), 60)
    except Exception:  # a user object from the Python API whose repr misbehaves
        return f"<{type(value).__name__}>"


class _Problems(ScenarioError):
    """Problems of a nested spec (chip overrides, calibration), already formatted with their paths,
    raised inside a validator so that the outer message lists them as they are."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        super().__init__(_head(lines))


def _head(lines: list[str]) -> str:
    shown = lines[:MAX_PROBLEMS]
    if len(lines) > MAX_PROBLEMS:
        shown.append(f"... and {len(lines) - MAX_PROBLEMS} more")
    head = "invalid scenario" if len(lines) == 1 else f"invalid scenario ({len(lines)} problems)"
    return head + ":\n  " + "\n  ".join(shown)


def _problem_lines(err: ValidationError, prefix: str = "") -> list[str]:
    """One line per problem: ``path: what is wrong (got value)``; repeats dropped."""
    lines: list[str] = []
    seen = set()
    errors = err.errors(include_url=False)
    for e in errors:
        if _other_branch_explains(e, errors):
            continue
        cause = (e.get("ctx") or {}).get("error")
        if isinstance(cause, _Problems):
            lines += [ln for ln in cause.lines if ln not in lines]
            continue
        path = _fmt_loc(tuple(e["loc"]))
        if prefix:
            path = f"{prefix}.{path}" if path != "(top level)" else prefix
        msg = _clip(e["msg"].removeprefix("Value error, "), 300)
        if e["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling; see docs/scenario-reference.md)"
        key = (path, msg)
        if key in seen:
            continue
        seen.add(key)
        value = e.get("input")
        if e["type"] == "missing":
            lines.append(f"{path}: field required")
        elif path == "(top level)":
            lines.append(msg)  # a rule over several keys: its message names them
        elif isinstance(value, Mapping):
            lines.append(f"{path}: {msg}")  # a rule inside this mapping: its message names the keys
        else:
            lines.append(f"{path}: {msg} (got {_show(value)})")
    return lines


def _other_branch_explains(e: dict, errors: list[dict]) -> bool:
    """A mapping given for ``str | Spec`` (an inline chip or model) fails the ``str`` branch too;
    that line is noise when the spec branch says what is wrong."""
    loc = tuple(e["loc"])
    if e["type"] != "string_type" or not loc or loc[-1] != "str":
        return False
    return any(len(o["loc"]) > len(loc) and tuple(o["loc"])[: len(loc) - 1] == loc[:-1]
               for o in errors)


def format_validation_error(err: ValidationError, prefix: str = "") -> str:
    """The user's message for a pydantic error: one bounded line per problem, paths under
    ``prefix``."""
    return _head(_problem_lines(err, prefix))


def validate(cls: type[_M], data: Any, prefix: str = "") -> _M:
    """``cls.model_validate(data)``, any failure raised as one :class:`ScenarioError`."""
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        raise ScenarioError(format_validation_error(e, prefix)) from None


def validate_nested(cls: type[_M], data: Any, prefix: str) -> _M:
    """Validate a spec merged inside a scenario validator (chip overrides, calibration changes);
    its problems keep their paths under ``prefix`` in the scenario's one message."""
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        raise _Problems(_problem_lines(e, prefix)) from None
