"""The discrete-event engine: the only code that knows simpy."""

from .cluster import run

__all__ = ["run"]
