"""The errors a user sees, in one place, so every layer raises them without importing a front end.

The command line turns each into one line on stderr and exit status 2 (bad input).
"""

from __future__ import annotations

__all__ = ["DoesNotFit", "LimitExceeded", "ScenarioError", "UsageError"]


class ScenarioError(ValueError):
    """A scenario that cannot be used; the message is meant for the user as is."""


class LimitExceeded(ScenarioError):
    """Input over a loader limit (size, nesting, alias expansion)."""


class DoesNotFit(ValueError):
    """The model and its KV cache do not fit in the group's HBM."""


class UsageError(Exception):
    """Bad front-end input (a flag, a grid, a baseline file): reported in one line, exit 2."""
