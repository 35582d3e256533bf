"""The column registry: every column of the result frames, with its unit, definition and the
direction in which it gets better.

One list that the frames, the regression check, sweeps, uncertainty bands, plots, the CLI and the
docs' glossary all read, so a metric is defined (and its direction decided) exactly once. The
frames are ``summary``, ``requests``, ``replicas`` and ``timeline`` (the :class:`Result`
properties) and ``breakdown`` (:meth:`Result.breakdown`); a test checks that every column they
have is listed here and nothing else is.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Better = Literal["higher", "lower", "true"] | None
Frame = Literal["summary", "requests", "replicas", "timeline", "breakdown", "pools", "failures"]

#: the latency percentiles the summary reports for TTFT, TPOT and end-to-end latency
PERCENTILES: tuple[int, ...] = (50, 90, 99)


@dataclass(frozen=True)
class Column:
    """One frame column. ``better``: ``"higher"``, ``"lower"``, ``"true"`` (a flag that must stay
    True) or None (a descriptor, not a figure of merit). ``banded``: gets ``_p5/_p50/_p95``
    uncertainty bands; ``ci``: gets a confidence interval over sweep replications. ``label``: a
    short name for plot axes (the column name when empty)."""

    frame: Frame
    name: str
    unit: str
    definition: str
    better: Better = None
    banded: bool = False
    ci: bool = False
    label: str = ""


def _pcts(stem: str, what: str, ci: tuple[int, ...] = (50, 99)) -> list[Column]:
    out = [Column("summary", f"{stem}_p{p}_s", "s", f"{p}th percentile of {what} over completed "
                  "requests", "lower", True, p in ci) for p in PERCENTILES]
    out.append(Column("summary", f"{stem}_mean_s", "s", f"mean {what} over completed requests",
                      "lower"))
    return out


_S = "summary"
_SUMMARY = (
    Column(_S, "workload", "", "workload name; `all` is every request of the run"),
    Column(_S, "requests", "requests", "requests that arrived (every state)"),
    Column(_S, "completed", "requests", "requests that produced all their output tokens", "higher"),
    Column(_S, "rejected", "requests", "refused on arrival (too long for the model or the cache)",
           "lower"),
    Column(_S, "dropped", "requests", "left the queue without completing (timeout, recompute too "
           "long)", "lower"),
    Column(_S, "in_flight", "requests", "still queued or running when a cut run stopped", "lower"),
    Column(_S, "duration_s", "s", "simulated time of the run, drain included"),
    Column(_S, "output_tok_s", "tokens/s", "output (generated) tokens of completed requests per "
           "second of the run; prompt tokens are not counted (see total_tok_s)", "higher", True,
           True),
    Column(_S, "prompt_tok_s", "tokens/s", "prompt (input) tokens of completed requests per second "
           "of the run", "higher"),
    Column(_S, "total_tok_s", "tokens/s", "prompt plus output tokens of completed requests per "
           "second of the run: the figure most serving benchmarks call throughput", "higher"),
    Column(_S, "completed_req_s", "requests/s", "completed requests per second of the run (not "
           "the offered arrival rate)", "higher"),
    Column(_S, "prefix_hit_rate", "fraction", "prompt tokens served from a replica's prefix "
           "cache over prompt tokens, of requests admitted to a batch (vLLM's prefix cache hit "
           "rate; 0 without a workload `prefix` or with prefix caching off)", "higher"),
    Column(_S, "goodput_req_s", "requests/s", "completed requests that met every latency target of "
           "their workload, per second", "higher", True, True),
    *_pcts("ttft", "time to first token (arrival to first token)"),
    *_pcts("tpot", "time per output token after the first"),
    *_pcts("e2e", "end-to-end latency (arrival to last token)", ci=(99,)),
    Column(_S, "slo_attainment", "fraction", "share of requests that completed within every "
           "latency target of their workload (NaN for a workload without targets; the `all` row "
           "counts the requests of workloads that have them)", "higher", True, True),
    Column(_S, "slo_met", "bool", "every p99 target of the workload holds and every request "
           "completed (None without targets)", "true"),
    Column(_S, "cost_basis", "text", "how a chip-hour is priced: `rental` (market price) or "
           "`ownership` (capex over life + electricity x PUE x measured power + facility rent); "
           "docs/economics.md"),
    Column(_S, "usd_per_chip_hour", "USD/chip-hour", "the price of one chip for one hour on "
           "`cost_basis` (ownership: at the run's measured mean power)", "lower", True),
    Column(_S, "cost_usd", "USD", "chip-hours of the run times the chip-hour price, shared between "
           "workloads by tokens processed", "lower"),
    Column(_S, "output_tokens_per_usd", "tokens/USD", "output tokens of completed requests per "
           "dollar of cost_usd (the prompt work is paid for, not counted)", "higher", True, True),
    Column(_S, "usd_per_m_output_tok", "USD/M output tokens", "dollars per million output tokens "
           "of completed requests: cost_usd / output tokens x 1e6, so the cost of the prompt work "
           "is folded in; prompt tokens are not counted", "lower", True, True),
    Column(_S, "energy_j", "J", "energy at the chip: the chips' activity power model (idle + MFU + "
           "MBU terms, fitted on measured DGX-A100 power) over the run, shared between workloads "
           "by tokens processed", "lower"),
    Column(_S, "output_tokens_per_joule", "tokens/J", "output tokens of completed requests per "
           "joule at the chip (prompt work paid for, not counted)", "higher", True),
    Column(_S, "energy_rack_j", "J", "energy in the racks: chip + host (per tray) + network (per "
           "chip), shared between workloads by tokens processed", "lower"),
    Column(_S, "output_tokens_per_joule_rack", "tokens/J", "output tokens of completed requests "
           "per joule in the racks", "higher", True),
    Column(_S, "energy_wall_j", "J", "energy at the wall: rack energy x the facility's PUE, "
           "shared between workloads by tokens processed", "lower"),
    Column(_S, "output_tokens_per_joule_wall", "tokens/J", "output tokens of completed requests "
           "per joule at the wall", "higher", True),
    Column(_S, "racks", "racks", "racks the fleet occupies (chips per tray, trays per rack from "
           "the catalog, fewer trays under a tight rack power budget)"),
    Column(_S, "rack_kw", "kW", "a full rack's provisioned power: chips at their power limit "
           "(TDP or the rack cap) plus host and network"),
    Column(_S, "output_tok_s_per_rack_kw", "tokens/s/kW", "output tokens per second per "
           "provisioned rack kW of the fleet (tokens under equal rack power)", "higher", True),
    Column(_S, "availability", "fraction", "share of the fleet's replica-time spent serving, "
           "not failed, under repair or reload, or drained (1 without `failures`; the fleet's, on "
           "every row)", "higher"),
    Column(_S, "retried", "requests", "requests that lost their replica to a failure or drain "
           "and were retried on another", "lower"),
    Column(_S, "dropped_retries_exhausted", "requests", "dropped after losing their replica "
           "more than `failures.max_retries` times", "lower"),
    Column(_S, "no_replica_available", "requests", "rejected on arrival or dropped because no "
           "replica of their pool was up (failures, drains)", "lower"),
    Column(_S, "goodput_lost_req_s", "requests/s", "goodput the failures took: requests a failure "
           "or drain touched (retried, or ended for want of a replica) that then missed their "
           "SLO or did not complete, per second of the run (0 without `failures`)", "lower"),
)

_Q = "requests"
_REQUESTS = (
    Column(_Q, "request_id", "", "the request's number, in order of arrival"),
    Column(_Q, "workload", "", "the workload that sent the request"),
    Column(_Q, "arrival_s", "s", "when the request arrived, from the start of the run"),
    Column(_Q, "admit_s", "s", "when the request first joined a batch (NaN: never admitted)"),
    Column(_Q, "first_token_s", "s", "when its first output token was produced (NaN: none yet)"),
    Column(_Q, "finish_s", "s", "when its last output token was produced (NaN: not completed)"),
    Column(_Q, "ttft_s", "s", "time to first token: arrival to first output token, queueing and "
           "prefill included", "lower", label="time to first token"),
    Column(_Q, "tpot_s", "s", "time per output token after the first: (finish - first token) / "
           "(output tokens - 1); NaN for single-token requests", "lower",
           label="time per output token"),
    Column(_Q, "e2e_s", "s", "end-to-end latency: arrival to last output token", "lower",
           label="end-to-end latency"),
    Column(_Q, "prompt_tokens", "tokens", "length of the prompt"),
    Column(_Q, "output_tokens", "tokens", "output tokens the request asks for"),
    Column(_Q, "cached_tokens", "tokens", "prompt tokens its first admission found in the "
           "replica's prefix cache and did not prefill (vLLM's num_cached_tokens)"),
    Column(_Q, "output_tokens_generated", "tokens", "output tokens produced by the end of the "
           "run (equals output_tokens when completed; fewer when cut or dropped)"),
    Column(_Q, "tenant", "", "who sent it (its workload's `tenant`)"),
    Column(_Q, "slo_class", "", "its class of service (its workload's `slo_class`)"),
    Column(_Q, "pool", "", "the pool that served it (a disaggregated request: the decode pool; "
           "a refused one: the pool it was meant for)"),
    Column(_Q, "replica", "", "the replica the router sent it to (-1: refused before routing; "
           "disaggregated: the decode replica)"),
    Column(_Q, "prefill_replica", "", "disaggregated: the replica of the prefill pool that ran "
           "its prompt (-1: not disaggregated)"),
    Column(_Q, "kv_transfer_s", "s", "disaggregated: from the end of its prefill to its KV "
           "cache's arrival at the decode replica, waiting for busy links included (NaN: none)",
           "lower"),
    Column(_Q, "preemptions", "count", "times it was evicted from a batch to free KV cache and its "
           "context recomputed later", "lower"),
    Column(_Q, "retries", "count", "times it lost its replica to a failure or drain and was "
           "retried on another (its prompt and generated tokens recomputed)", "lower"),
    Column(_Q, "status", "", "completed, rejected (refused on arrival), dropped (left the queue) "
           "or in_flight (still queued or running at the end of a cut run)"),
    Column(_Q, "reason", "", "why a request did not complete (empty when completed), e.g. "
           "exceeds_kv_capacity, queue_timeout, running_at_end"),
    Column(_Q, "cost_usd", "USD", "its share of the fleet's cost: each pool's cost over the run "
           "split by the seconds each request used there (prompt tokens at the pool's prefill "
           "cost per token, generated tokens at its decode cost per token); the column sums to "
           "the fleet's cost", "lower"),
)

_R = "replicas"
_REPLICAS = (
    Column(_R, "pool", "", "the pool the replica belongs to"),
    Column(_R, "replica", "", "the replica's number"),
    Column(_R, "chips", "chips", "chips in the replica: max(tensor_parallel, expert_parallel) x "
           "pipeline_parallel"),
    Column(_R, "stepping_s", "s", "time the replica spent running steps (of any size)"),
    Column(_R, "stepping_frac", "fraction", "share of the run's time the replica was running a "
           "step, however small: NOT how full it is (a replica stepping 97% of the time can be at "
           "1% MFU and 0.3% KV use; read mfu, mbu and kv_mean_frac for that)",
           label="stepping (share of time)"),
    Column(_R, "mfu", "fraction", "model FLOPs utilisation, time-weighted over the whole run: "
           "FLOPs the replica's steps did / (chips x the chip's dense peak FLOP/s at the GEMM "
           "precision x duration_s); idle time counts as zero", label="MFU"),
    Column(_R, "mbu", "fraction", "memory-bandwidth utilisation, time-weighted over the whole run: "
           "HBM bytes the replica's steps moved / (chips x the chip's HBM bandwidth x "
           "duration_s); idle time counts as zero", label="MBU"),
    Column(_R, "kv_capacity_tokens", "tokens", "tokens of KV cache the replica holds (HBM left "
           "after weights and activations)"),
    Column(_R, "kv_mean_frac", "fraction", "KV cache in use, time-weighted over the whole run, as "
           "a fraction of kv_capacity_tokens (each step's use at its end held over the step; "
           "idle time counts as zero; NaN for a run that kept no step log)",
           label="KV cache, time-weighted mean"),
    Column(_R, "kv_peak_frac", "fraction", "the most KV cache in use at any step end, as a "
           "fraction of kv_capacity_tokens", label="KV cache peak"),
    Column(_R, "output_tokens", "tokens", "output tokens the replica produced (a prefill's first "
           "token included)"),
    Column(_R, "prefill_tokens", "tokens", "prompt tokens the replica processed, recomputation "
           "after preemption included"),
    Column(_R, "steps", "count", "engine iterations (batched forward passes) the replica ran"),
    Column(_R, "tokens_per_step", "tokens", "speculative decoding: tokens each decoding "
           "sequence emits per verification step on average, (1 - a^(k+1)) / (1 - a) for "
           "acceptance rate a and k draft tokens (1 without speculation)", "higher"),
    Column(_R, "jumps", "count", "fast-forwards: runs of identical decode steps computed in "
           "closed form (their steps are counted in steps)"),
    Column(_R, "preemptions", "count", "sequences evicted from the replica's batch to free KV "
           "cache", "lower"),
    Column(_R, "kv_swaps", "count", "preemptions whose KV cache was swapped to host memory "
           "(deployment.kv_offload) instead of recomputed"),
    Column(_R, "energy_j", "J", "energy of the replica's chips: TDP x (idle + a MFU + b MBU) "
           "integrated over the run, at most the chips' power limit (maiasim.physics.power)"),
    Column(_R, "saturated", "bool", "the replica's queue grew without bound while requests "
           "arrived (at the horizon: >= 8 queued, never empty for the last quarter or more, "
           "still growing): its latencies depend on the horizon, so quote no capacity from it",
           "lower"),
    Column(_R, "saturated_since_s", "s", "the last time a saturated replica's queue was empty "
           "(NaN when not saturated)"),
)

_T = "timeline"
_TIMELINE = (
    Column(_T, "time_s", "s", "start of the time bin (bins are equal, except the last, which ends "
           "with the run; every column is a mean over the time its bin covers)"),
    Column(_T, "output_tok_s", "tokens/s", "output tokens produced in the bin, cluster-wide, "
           "per second (a step's tokens spread over its duration)"),
    Column(_T, "prefill_tok_s", "tokens/s", "prompt tokens processed (prefilled) in the bin, "
           "cluster-wide, per second, recomputation after preemption included"),
    Column(_T, "queue_depth", "requests", "time-averaged number of requests waiting in the "
           "replicas' queues during the bin", label="queued requests"),
    Column(_T, "batch_size", "sequences", "mean number of sequences in a running step, weighted "
           "by stepping time in the bin"),
    Column(_T, "kv_used_frac", "fraction", "time-averaged KV cache in use over the cluster's "
           "total KV capacity", label="KV cache used"),
    Column(_T, "stepping_frac", "fraction", "share of the replicas' time in the bin spent running "
           "steps of any size (not how full they are)", label="stepping (share of time)"),
    Column(_T, "power_w", "W", "mean power of all chips in the bin: idle power plus each "
           "replica's active power (from its MFU and MBU) while it ran steps"),
    Column(_T, "power_rack_w", "W", "mean rack (IT) power in the bin: the chips' plus the constant "
           "host and network power of the trays the fleet occupies"),
    Column(_T, "replicas_down", "replicas", "time-averaged number of replicas down in the bin "
           "(failed, under repair or reload, or drained)", "lower"),
)

_B = "breakdown"
_BREAKDOWN = (
    Column(_B, "op", "", "a part of the decode step: a GEMM (qkv_proj, o_proj, mlp; for MoE "
           "moe_experts, moe_router, moe_shared), elementwise kernels, communication (TP and PP), "
           "moe_alltoall (expert-parallel dispatch and combine), lm_head, attention, or "
           "overhead (the per-iteration cost outside the operators: launch, scheduling, "
           "per-token and per-sequence host time)"),
    Column(_B, "time_s", "s", "the operator's time in a representative decode step (the rows "
           "sum to the step time)"),
    Column(_B, "share", "fraction", "the operator's share of the step's time (the rows sum to 1)"),
)

_P = "pools"
_POOLS = (
    Column(_P, "pool", "", "the pool's name (a single-pool scenario: its chip's)"),
    Column(_P, "role", "", "mixed, prefill or decode"),
    Column(_P, "chip", "", "the pool's chip"),
    Column(_P, "model", "", "the model it serves"),
    Column(_P, "replicas", "replicas", "model replicas in the pool"),
    Column(_P, "chips", "chips", "chips in the pool"),
    Column(_P, "usd_per_chip_hour", "USD/chip-hour", "the price of one of its chips for an hour "
           "(NaN: unpriced)"),
    Column(_P, "cost_basis", "", "`rental` or `ownership` (docs/economics.md)"),
    Column(_P, "cost_source", "", "where that price came from"),
    Column(_P, "cost_usd", "USD", "chips x price x the run's duration, busy or idle", "lower"),
    Column(_P, "requests", "requests", "requests it served (disaggregated: counted in the decode "
           "pool)"),
    Column(_P, "output_tokens", "tokens", "output tokens its replicas produced"),
    Column(_P, "prefill_tokens", "tokens", "prompt tokens its replicas processed "
           "(recomputation included)"),
    Column(_P, "stepping_frac", "fraction", "mean share of the run its replicas spent running "
           "steps of any size (not how full they are)"),
    Column(_P, "mfu", "fraction", "model FLOPs over the pool's peak FLOPs for the whole run "
           "(time-weighted; idle time counts as zero)", "higher"),
    Column(_P, "mbu", "fraction", "HBM bytes moved over the pool's HBM bandwidth for the whole run "
           "(time-weighted; idle time counts as zero)", "higher"),
    Column(_P, "kv_mean_frac", "fraction", "KV cache in use, time-weighted over the whole run, "
           "over the pool's KV capacity (the mean of its replicas' kv_mean_frac)"),
    Column(_P, "kv_peak_frac", "fraction", "highest KV use of any of its replicas"),
    Column(_P, "energy_j", "J", "energy of its chips over the run", "lower"),
    Column(_P, "saturated_replicas", "replicas", "replicas whose queue grew without bound",
           "lower"),
)

_F = "failures"
_FAILURES = (
    Column(_F, "time_s", "s", "when the replica went down"),
    Column(_F, "pool", "", "its pool"),
    Column(_F, "replica", "", "the replica (numbered across the fleet)"),
    Column(_F, "component", "", "what failed: chip, hbm, host (a tray: every replica on it) or "
           "link; drain for planned maintenance"),
    Column(_F, "repair_end_s", "s", "when its repair (or replacement) and model reload end, or "
           "the drain does: it serves again then, unless another outage holds it"),
)

COLUMNS: tuple[Column, ...] = (*_SUMMARY, *_REQUESTS, *_REPLICAS, *_TIMELINE, *_BREAKDOWN,
                               *_POOLS, *_FAILURES)

#: columns renamed so that each name says what it counts (old name -> new name), for messages
#: that meet an old name (a baseline, a --tolerance, a notebook)
RENAMED: dict[str, str] = {
    "throughput_tok_s": "output_tok_s", "request_rate_per_s": "completed_req_s",
    "tokens_per_usd": "output_tokens_per_usd", "usd_per_mtok": "usd_per_m_output_tok",
    "tokens_per_joule": "output_tokens_per_joule", "generated_tokens": "output_tokens_generated",
    "busy_s": "stepping_s", "busy_frac": "stepping_frac", "tokens": "output_tokens",
}

_BY_KEY = {(c.frame, c.name): c for c in COLUMNS}
_BY_NAME = {c.name: c for c in COLUMNS if c.frame == _S}


def column(frame: Frame, name: str) -> Column | None:
    """The column ``name`` of ``frame`` (None for a column the registry does not know)."""
    return _BY_KEY.get((frame, name))


def names(frame: Frame) -> tuple[str, ...]:
    """The columns of ``frame``, in the frame's order."""
    return tuple(c.name for c in COLUMNS if c.frame == frame)


def ordered(frame: Frame, present: Iterable[str]) -> list[str]:
    """``present`` in the registry's order of ``frame``; raises if the two sets differ, so a
    column cannot be added to a frame without defining it here."""
    want, have = names(frame), set(present)
    if set(want) != have:
        raise KeyError(f"{frame} columns differ from the registry: extra "
                       f"{sorted(have - set(want))}, missing {sorted(set(want) - have)}")
    return list(want)


def axis_label(frame: Frame, name: str, unit: bool = True) -> str:
    """A plot label for a column: its label (or name), with its unit in brackets."""
    c = _BY_KEY[(frame, name)]
    text = c.label or c.name
    return f"{text} ({c.unit})" if unit and c.unit else text


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


def renamed_note(names: Iterable[str]) -> str:
    """``" (renamed: throughput_tok_s is now output_tok_s)"`` for the old names among ``names``,
    or ``""``."""
    old = [n for n in dict.fromkeys(names) if n in RENAMED]
    if not old:
        return ""
    return " (renamed: " + ", ".join(f"{n} is now {RENAMED[n]}" for n in old) + ")"


def glossary_text(width: int = 96) -> str:
    """Every column as plain text, frame by frame (``name [unit], better higher: definition``),
    for ``help(ms.Result)``; docs/glossary.md is the same registry as Markdown tables."""
    out = ["Columns (the registry, maiasim.results.columns; also docs/glossary.md):"]
    for frame in ("summary", "requests", "replicas", "timeline", "pools", "breakdown", "failures"):
        out.append(f"\n{frame}:")
        for c in COLUMNS:
            if c.frame != frame:
                continue
            head = f"{c.name}" + (f" [{c.unit}]" if c.unit else "")
            head += f", better {c.better}" if c.better in ("higher", "lower") else (
                ", must stay True" if c.better == "true" else "")
            out.append(textwrap.fill(f"{head}: {c.definition}", width, initial_indent="  ",
                                     subsequent_indent="      "))
    return "\n".join(out)
