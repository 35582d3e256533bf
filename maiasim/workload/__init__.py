"""The workload: every request of a run, drawn up front from the scenario seed as numpy arrays.

Modules: :mod:`.streams` (``streams(sc)``, one :class:`Stream` per workload; :func:`check`, what
``streams`` would refuse, found without drawing; :func:`rng_for`, the per-purpose random
streams), :mod:`.arrivals` (arrival times and length distributions),
:mod:`.traces` (strict, cached reading of trace CSVs). The function ``streams`` is imported from
:mod:`maiasim.workload.streams`, so that ``maiasim.workload.streams`` always names the module.
"""

from __future__ import annotations

from .arrivals import arrival_times, draw_lengths
from .streams import Stream, check, expected_requests, rng_for
from .traces import (
    MAX_TRACE_BYTES,
    MAX_TRACE_TOKENS,
    TRACE_COLUMNS,
    Trace,
    clear_trace_cache,
    read_trace,
)

__all__ = [
    "MAX_TRACE_BYTES", "MAX_TRACE_TOKENS", "TRACE_COLUMNS", "Stream", "Trace", "arrival_times",
    "check", "clear_trace_cache", "draw_lengths", "expected_requests", "read_trace", "rng_for",
]
