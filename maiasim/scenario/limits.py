"""Every limit on scenario input, in one place.

Absurd input must fail before any memory is spent on it, so each limit is checked where the input
is first seen: the file size and YAML shape by the loader, the rest by the schema (each field's
description states its own limit, and ``docs/scenario-reference.md`` lists them).
"""

from __future__ import annotations

from ..spec.hardware import MAX_CHIPS

__all__ = [
    "MAX_CHIPS", "MAX_COUNT", "MAX_DEPTH", "MAX_FILE_BYTES", "MAX_HORIZON_S", "MAX_NODES",
    "MAX_RATE", "MAX_REPLICAS", "MAX_TIMELINE_BINS", "MAX_TOKENS",
]

#: Largest scenario file read: scenario files are a few kB (traces are separate CSV files).
MAX_FILE_BYTES = 1 << 20
#: Most nodes a YAML document may expand to, an alias counting its whole target at every use (a
#: 342-byte alias bomb expands to 10**9). A rich scenario has a few hundred.
MAX_NODES = 10_000
#: Deepest nesting of a YAML document (a scenario nests about six levels; Python's recursion limit
#: is about 1000).
MAX_DEPTH = 100
#: Longest simulated horizon (s): about four months of simulated time.
MAX_HORIZON_S = 1e7
#: Longest request length (tokens): 16x a 1M-token context, the longest any model offers.
MAX_TOKENS = 1 << 24
#: Highest arrival rate of one workload (requests/s).
MAX_RATE = 1e6
#: Most requests of a burst or closed-loop workload (``engine.max_requests`` is checked as well).
MAX_COUNT = 200_000_000
#: Most replicas (the engine keeps per-replica state and preallocates per-replica records).
MAX_REPLICAS = 1_000_000
#: Most bins of ``Result.timeline``.
MAX_TIMELINE_BINS = 1_000_000
