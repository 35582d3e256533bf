"""The traffic a scenario offers: when requests arrive, how long they are, what latency they need.

Arrivals and lengths are tagged unions (a mapping whose ``type`` picks the model), so a mistake is
reported against the one model the user meant rather than against every alternative.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from ..spec.hardware import Float, Int
from .fields import ConfigModel
from .limits import MAX_COUNT, MAX_HORIZON_S, MAX_RATE, MAX_TOKENS

__all__ = [
    "SLO", "Arrival", "Burst", "ClosedLoop", "Fixed", "Gamma", "Lengths", "Lognormal", "Poisson",
    "PrefixConfig", "SessionConfig", "TraceArrival", "TraceLengths", "Uniform", "WorkloadConfig",
]

# ---- arrivals -------------------------------------------------------------------------------

_RATE_LIMIT = "At most 1,000,000 requests/s."


class Poisson(ConfigModel):
    """Independent arrivals at a steady mean rate: the usual model of many uncoordinated users."""

    type: Literal["poisson"]
    rate_per_s: Float = Field(gt=0, le=MAX_RATE, description=(
        f"Mean arrival rate (requests per second); exponential inter-arrival gaps. {_RATE_LIMIT}"))


class Gamma(ConfigModel):
    """Arrivals at a mean rate but burstier (cv > 1) or more regular (cv < 1) than Poisson."""

    type: Literal["gamma"]
    rate_per_s: Float = Field(gt=0, le=MAX_RATE, description=(
        f"Mean arrival rate (requests per second); gamma inter-arrival gaps with shape 1/cv^2. "
        f"{_RATE_LIMIT}"))
    cv: Float = Field(gt=0, le=100, description=(
        "coefficient of variation of inter-arrival times (1 = Poisson); at most 100 (heavier "
        "tails put nearly all requests in one instant and the gamma draws degenerate)"))


class Burst(ConfigModel):
    """Every request at once: measures how fast a fleet drains a backlog."""

    type: Literal["burst"]
    count: Int = Field(ge=1, le=MAX_COUNT, description=(
        "Number of requests, all arriving at t = 0. At most 200,000,000 (and at most "
        "`engine.max_requests`)."))


class ClosedLoop(ConfigModel):
    """A fixed number of clients, each waiting for its answer before asking again: the offered
    load follows the fleet's speed, as in a benchmark harness."""

    type: Literal["closed_loop"]
    concurrency: Int = Field(ge=1, le=MAX_COUNT, description=(
        "Number of clients; each sends its next request when its previous one ends (completes or "
        "is rejected). At most 200,000,000."))
    count: Int = Field(ge=1, le=MAX_COUNT, description=(
        "Total requests over all clients; no new request is sent after the horizon. At most "
        "200,000,000 (and at most `engine.max_requests`)."))
    think_time_s: Float = Field(default=0.0, ge=0, le=MAX_HORIZON_S, description=(
        "Pause between a client's response and its next request; at most 1e7 s."))


class TraceArrival(ConfigModel):
    """Arrival times (and, unless given otherwise, lengths) replayed from a recorded trace."""

    type: Literal["trace"]
    path: str = Field(description=(
        "CSV with TIMESTAMP, ContextTokens, GeneratedTokens; or azure:conv / azure:code"))
    time_scale: Float = Field(default=1.0, gt=0, le=1e6, description=(
        "multiplies inter-arrival gaps (0.5 = twice the rate); at most 1,000,000"))
    start_s: Float = Field(default=0.0, ge=0, le=1e9, description=(
        "skip the trace's first start_s seconds; at most 1e9 s"))
    repeat: bool = Field(default=False, description=(
        "Replay the trace again and again until the horizon, each copy starting one mean gap "
        "after the previous one's last arrival: a day of traffic from the one-hour Azure "
        "traces, with their burstiness, at the rate `time_scale` sets."))


#: One workload's arrival process, chosen by its ``type``.
Arrival = Annotated[Poisson | Gamma | Burst | ClosedLoop | TraceArrival,
                    Field(discriminator="type")]

# ---- lengths --------------------------------------------------------------------------------

_TOKENS_LIMIT = ("At most 16,777,216 (2^24) tokens; beyond the model's max_context a request is "
                 "rejected.")


class Fixed(ConfigModel):
    """Every request the same length: isolates the effect of load from that of length spread."""

    type: Literal["fixed"]
    value: Int = Field(ge=1, le=MAX_TOKENS, description=(
        f"Every request has this many tokens. {_TOKENS_LIMIT}"))


class Uniform(ConfigModel):
    """Lengths spread evenly between two bounds."""

    type: Literal["uniform"]
    low: Int = Field(ge=1, le=MAX_TOKENS, description=(
        f"Smallest length (inclusive). {_TOKENS_LIMIT}"))
    high: Int = Field(ge=1, le=MAX_TOKENS, description=(
        f"Largest length (inclusive); must be >= low. {_TOKENS_LIMIT}"))

    @model_validator(mode="after")
    def _order(self):
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) must be >= low ({self.low})")
        return self


class Lognormal(ConfigModel):
    """Right-skewed lengths (most short, a few very long), as prompt and output lengths of
    production traces are."""

    type: Literal["lognormal"]
    median: Float = Field(gt=0, le=MAX_TOKENS, description=(
        f"Median length (exp of the underlying normal's mean). {_TOKENS_LIMIT}"))
    sigma: Float = Field(ge=0, le=10, description=(
        "Standard deviation of the underlying normal (0 = always the median); at most 10 (draws "
        "then already span e^±30, far beyond any length)."))
    max: Int = Field(default=1 << 20, ge=1, le=MAX_TOKENS, description=(
        f"Draws are rounded and clipped to at most this. {_TOKENS_LIMIT}"))
    min: Int = Field(default=1, ge=1, le=MAX_TOKENS, description=(
        f"Draws are rounded and clipped to at least this; must be <= max. {_TOKENS_LIMIT}"))

    @model_validator(mode="after")
    def _order(self):
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must be <= max ({self.max})")
        return self


class TraceLengths(ConfigModel):
    """Lengths drawn from a trace: in order when the arrivals are that trace, else resampled."""

    type: Literal["trace"]
    path: str | None = Field(default=None, description="defaults to the workload's arrival trace")


#: One length distribution (prompt or output), chosen by its ``type``.
Lengths = Annotated[Fixed | Uniform | Lognormal | TraceLengths, Field(discriminator="type")]

# ---- the workload ---------------------------------------------------------------------------


class SLO(ConfigModel):
    """Latency targets a workload's requests must meet: they turn latency into attainment and
    goodput."""

    ttft_p99_s: Float | None = Field(default=None, gt=0)
    tpot_p99_s: Float | None = Field(default=None, gt=0)
    e2e_p99_s: Float | None = Field(default=None, gt=0)


class PrefixConfig(ConfigModel):
    """A shared prompt prefix (a system prompt, few-shot examples, a document many questions ask
    about): every request's prompt starts with one of ``groups`` distinct prefixes of ``tokens``
    tokens, drawn uniformly from the workload's own ``prefix`` random stream. With
    `deployment.scheduler.prefix_caching`, a replica that has one cached skips its prefill."""

    tokens: Int = Field(ge=1, le=MAX_TOKENS, description=(
        "Length of the shared prefix. It is prepended to the request's own prompt: the prompt is "
        "`tokens` + a draw of `prompt_tokens` long. At most 16,777,216."))
    groups: Int = Field(default=1, ge=1, le=1 << 24, description=(
        "Number of distinct prefixes; each request carries one, uniformly at random (1 = every "
        "request shares the same prefix). At most 16,777,216."))


class SessionConfig(ConfigModel):
    """Multi-turn conversations: each closed-loop client holds a conversation of ``turns`` turns,
    and each turn's prompt re-sends the conversation so far (the previous turn's prompt and
    answer) followed by a new message of `prompt_tokens`. With
    `deployment.scheduler.prefix_caching`, a replica that served the previous turn still holds
    its context and prefills only the new message."""

    turns: Int = Field(ge=2, le=1_000_000, description=(
        "Turns per conversation; after the last (or a turn that is rejected or dropped) the "
        "client starts a new conversation. 2 to 1,000,000."))


class WorkloadConfig(ConfigModel):
    """One named request stream; several share a fleet and are reported apart."""

    name: str = Field(min_length=1, description=(
        "Unique name of the workload; rows of `Result.summary` and `Result.requests` carry it. "
        "`all` is reserved."))
    arrival: Arrival = Field(description=(
        "When requests arrive; a mapping whose `type` selects one of the arrival types below."))
    prompt_tokens: Lengths | None = Field(default=None, description=(
        "Prompt length distribution (see *Length distributions*). Required unless `arrival.type` "
        "is `trace` (then the trace's ContextTokens)."))
    output_tokens: Lengths | None = Field(default=None, description=(
        "Output length distribution, same types as `prompt_tokens`. Required unless "
        "`arrival.type` is `trace` (then the trace's GeneratedTokens)."))
    slo: SLO = Field(default=SLO(), description=(
        "Latency targets of this workload; used for SLO attainment and goodput."))
    model: str | None = Field(default=None, max_length=200, description=(
        "The model its requests need (a pool's model name); optional when the fleet serves one "
        "model."))
    tenant: str = Field(default="default", min_length=1, max_length=64, description=(
        "Who sends it; frames carry it and cost is attributed to it (`Result.cost_by`)."))
    slo_class: str = Field(default="default", min_length=1, max_length=64, description=(
        "Its class of service (e.g. `interactive`, `batch`): pools may serve only some classes "
        "(`fleet.pools[].slo_classes`), and summaries can be grouped by it."))
    priority: Int = Field(default=0, ge=-1000, le=1000, description=(
        "Queue priority inside a replica: a lower value is admitted first (vLLM's convention); "
        "requests of equal priority are served in arrival order. -1000 to 1000."))
    prefix: PrefixConfig | None = Field(default=None, description=(
        "A prompt prefix its requests share (the `prefix` keys below); none by default. Prefix "
        "caching (`deployment.scheduler.prefix_caching`) turns it into skipped prefill and "
        "shared KV."))
    session: SessionConfig | None = Field(default=None, description=(
        "Multi-turn conversations (the `session` keys below): needs `arrival.type: closed_loop` "
        "(a turn waits for the previous answer); not combined with `prefix` yet. None by "
        "default."))

    @model_validator(mode="after")
    def _lengths(self):
        is_trace = isinstance(self.arrival, TraceArrival)
        for k in ("prompt_tokens", "output_tokens"):
            v = getattr(self, k)
            if v is None and not is_trace:
                raise ValueError(f"{k} is required unless arrival.type is trace")
            if isinstance(v, TraceLengths) and v.path is None and not is_trace:
                raise ValueError(f"{k}.path is required when arrival.type is not trace")
        if self.session is not None and not isinstance(self.arrival, ClosedLoop):
            raise ValueError("session needs arrival.type closed_loop (a conversation's next turn "
                             f"waits for the previous answer), not {self.arrival.type}")
        if self.session is not None and self.prefix is not None:
            raise ValueError("session and prefix together are not modelled yet: use one")
        return self
