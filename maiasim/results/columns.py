"""The column registry: every column of the four frames, with its unit, definition and the
direction in which it gets better.

One list that the frames, the regression check, sweeps, uncertainty bands, plots, the CLI and the
docs' glossary all read, so a metric is defined (and its direction decided) exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Better = Literal["higher", "lower", "true"] | None
Frame = Literal["summary", "requests", "replicas", "timeline"]


@dataclass(frozen=True)
class Column:
    """One frame column. ``better``: ``"higher"``, ``"lower"``, ``"true"`` (a flag that must stay
    True) or None (a descriptor, not a figure of merit). ``banded``: gets ``_p5/_p50/_p95``
    uncertainty bands; ``ci``: gets a confidence interval over sweep replications."""

    frame: Frame
    name: str
    unit: str
    definition: str
    better: Better = None
    banded: bool = False
    ci: bool = False


def _pcts(stem: str, what: str, ci: tuple[int, ...] = (50, 99)) -> list[Column]:
    out = [Column("summary", f"{stem}_p{p}_s", "s", f"{p}th percentile of {what} over completed "
                  "requests", "lower", True, p in ci) for p in (50, 90, 99)]
    out.append(Column("summary", f"{stem}_mean_s", "s", f"mean {what} over completed requests",
                      "lower"))
    return out


_S = "summary"
COLUMNS: tuple[Column, ...] = (
    Column(_S, "workload", "", "workload name; `all` is every request of the run"),
    Column(_S, "requests", "requests", "requests that arrived (every state)"),
    Column(_S, "completed", "requests", "requests that produced all their output tokens", "higher"),
    Column(_S, "rejected", "requests", "refused on arrival (too long for the model or the cache)",
           "lower"),
    Column(_S, "dropped", "requests", "left the queue without completing (timeout, recompute too "
           "long)", "lower"),
    Column(_S, "in_flight", "requests", "still queued or running when a cut run stopped", "lower"),
    Column(_S, "duration_s", "s", "simulated time of the run, drain included"),
    Column(_S, "throughput_tok_s", "tokens/s", "output tokens of completed requests per second of "
           "the run (prompt tokens not counted)", "higher", True, True),
    Column(_S, "prompt_tok_s", "tokens/s", "prompt tokens of completed requests per second",
           "higher"),
    Column(_S, "request_rate_per_s", "requests/s", "completed requests per second", "higher"),
    Column(_S, "goodput_req_s", "requests/s", "completed requests that met every latency target of "
           "their workload, per second", "higher", True, True),
    *_pcts("ttft", "time to first token (arrival to first token)"),
    *_pcts("tpot", "time per output token after the first"),
    *_pcts("e2e", "end-to-end latency (arrival to last token)", ci=(99,)),
    Column(_S, "slo_attainment", "fraction", "share of requests that completed within every "
           "latency target of their workload", "higher", True, True),
    Column(_S, "slo_met", "bool", "every p99 target of the workload holds and every request "
           "completed (None without targets)", "true"),
    Column(_S, "cost_usd", "USD", "chip-hours of the run times the chip-hour price, shared between "
           "workloads by tokens processed", "lower"),
    Column(_S, "tokens_per_usd", "tokens/USD", "output tokens of completed requests per dollar",
           "higher", True, True),
    Column(_S, "usd_per_mtok", "USD/Mtok", "dollars per million output tokens (prompt work "
           "included in the cost)", "lower", True, True),
    Column(_S, "energy_j", "J", "chip energy of the run, shared between workloads by tokens "
           "processed", "lower"),
    Column(_S, "tokens_per_joule", "tokens/J", "output tokens of completed requests per joule",
           "higher", True),
)

_BY_NAME = {c.name: c for c in COLUMNS if c.frame == _S}


def summary_column(name: str) -> Column | None:
    """The summary column called ``name`` (None for a column the registry does not know)."""
    return _BY_NAME.get(name)


def better(name: str) -> Better:
    """Which way the summary metric ``name`` improves (None: not a figure of merit)."""
    c = _BY_NAME.get(name)
    return c.better if c is not None else None


def banded() -> tuple[str, ...]:
    """Summary metrics that get uncertainty bands."""
    return tuple(c.name for c in COLUMNS if c.frame == _S and c.banded)


def with_ci() -> tuple[str, ...]:
    """Summary metrics that get confidence intervals over sweep replications by default."""
    return tuple(c.name for c in COLUMNS if c.frame == _S and c.ci)
