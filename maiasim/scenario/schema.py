"""The scenario: a YAML file validated into typed, frozen models.

Loading never executes anything from the file (a bounded ``yaml.SafeLoader``). Any mistake becomes
one :class:`ScenarioError` naming the field path, the bad value and what is allowed. Limits are in
the schema (each field's description states its own), so absurd input fails before any memory is
spent on it: only regular files up to :data:`MAX_FILE_BYTES`, YAML up to :data:`MAX_DEPTH` levels
and :data:`MAX_NODES` nodes (aliases counted at every use), finite numbers, bounded counts.
"""

from __future__ import annotations

import copy
import math
import os
import reprlib
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    Field,
    PrivateAttr,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from .. import catalog
from ..errors import LimitExceeded, ScenarioError
from ..spec.calibration import Calibration
from ..spec.cost import ELECTRICITY_USD_PER_KWH, LIFETIME_YEARS, PUE
from ..spec.hardware import MAX_CHIPS, ChipSpec, Float, Int, Precision, Spec
from ..spec.model import ModelSpec

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


class _F(Spec):
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


# ---- hardware, model, precision -------------------------------------------------------------


class Hardware(_F):
    chip: str | ChipSpec = "maia200"
    chips: Int | None = Field(default=None, ge=1, le=MAX_CHIPS, description=(
        "Total chips; must equal replicas x tensor_parallel x pipeline_parallel when both are "
        "given. At most 10,000,000 (with the parallelism, also the limit on the resolved fleet)."))
    #: what-if changes to the chip's catalog figures, e.g. {hbm_bandwidth_bytes_per_s: 8.0e12}
    chip_overrides: dict[str, Any] = FrozenDict()
    #: changes to the chip's calibration, e.g. {hbm_fraction: 0.7}
    calibration: dict[str, Any] = FrozenDict()

    @field_validator("chip")
    @classmethod
    def _known_chip(cls, v):
        if isinstance(v, str):
            catalog.chip(v)
        return v

    @field_validator("chip_overrides", "calibration")
    @classmethod
    def _freeze(cls, v: dict) -> FrozenDict:
        return freeze(v)

    @field_serializer("chip_overrides", "calibration")
    def _thaw(self, v: Mapping) -> dict:
        return thaw(v)


class PrecisionCfg(_F):
    weights: Precision = "fp8"
    activations: Precision = "fp8"
    kv_cache: Precision = "fp8"


class Scheduler(_F):
    max_batch_tokens: Int = Field(default=8192, ge=16, le=1 << 20)
    max_num_seqs: Int = Field(default=256, ge=1, le=1 << 16)
    chunked_prefill: bool = True
    block_tokens: Int = Field(default=16, ge=1, le=1 << 16, description=(
        "Paged-KV block size in tokens; each sequence reserves one extra block of slack. "
        "At most 65,536."))
    hbm_utilization: Float = Field(default=0.9, gt=0, le=1)
    queue_timeout_s: Float | None = Field(default=None, gt=0, description=(
        "drop a request still queued this long after arrival (a client giving up)"))


class Deployment(_F):
    tensor_parallel: Int = Field(default=1, ge=1, le=1 << 16, description=(
        "Chips per pipeline stage that split every layer (tensor parallelism). Must divide the "
        "model's attention heads, divide its KV heads or be a multiple of them (KV heads are then "
        "replicated), and fit the chip's largest scale-up domain."))
    pipeline_parallel: Int = Field(default=1, ge=1, le=4096, description=(
        "Pipeline stages per replica (layers split across stages, no micro-batch overlap); at most "
        "the model's layers."))
    replicas: Int | None = Field(default=None, ge=1, le=MAX_REPLICAS, description=(
        "Number of model replicas. Optional when `hardware.chips` is given (then chips / "
        "(tensor_parallel x pipeline_parallel)). At most 1,000,000: the engine keeps state and "
        "preallocates records per replica."))
    scheduler: Scheduler = Scheduler()


class Router(_F):
    policy: Literal["round_robin", "least_outstanding", "random"] = "least_outstanding"


# ---- workload -------------------------------------------------------------------------------

_RATE_LIMIT = "At most 1,000,000 requests/s."


class Poisson(_F):
    type: Literal["poisson"]
    rate_per_s: Float = Field(gt=0, le=MAX_RATE, description=(
        f"Mean arrival rate (requests per second); exponential inter-arrival gaps. {_RATE_LIMIT}"))


class Gamma(_F):
    type: Literal["gamma"]
    rate_per_s: Float = Field(gt=0, le=MAX_RATE, description=(
        f"Mean arrival rate (requests per second); gamma inter-arrival gaps with shape 1/cv^2. "
        f"{_RATE_LIMIT}"))
    cv: Float = Field(gt=0, le=100, description=(
        "coefficient of variation of inter-arrival times (1 = Poisson); at most 100 (heavier "
        "tails put nearly all requests in one instant and the gamma draws degenerate)"))


class Burst(_F):
    type: Literal["burst"]
    count: Int = Field(ge=1, le=MAX_COUNT, description=(
        "Number of requests, all arriving at t = 0. At most 200,000,000 (and at most "
        "`engine.max_requests`)."))


class ClosedLoop(_F):
    type: Literal["closed_loop"]
    concurrency: Int = Field(ge=1, le=MAX_COUNT, description=(
        "Number of clients; each sends its next request when its previous one ends (completes or "
        "is rejected). At most 200,000,000."))
    count: Int = Field(ge=1, le=MAX_COUNT, description=(
        "Total requests over all clients; no new request is sent after the horizon. At most "
        "200,000,000 (and at most `engine.max_requests`)."))
    think_time_s: Float = Field(default=0.0, ge=0, le=MAX_HORIZON_S, description=(
        "Pause between a client's response and its next request; at most 1e7 s."))


class TraceArrival(_F):
    type: Literal["trace"]
    path: str = Field(description="CSV with TIMESTAMP, ContextTokens, GeneratedTokens; or azure:conv / azure:code")
    time_scale: Float = Field(default=1.0, gt=0, le=1e6, description=(
        "multiplies inter-arrival gaps (0.5 = twice the rate); at most 1,000,000"))
    start_s: Float = Field(default=0.0, ge=0, le=1e9, description=(
        "skip the trace's first start_s seconds; at most 1e9 s"))


Arrival = Annotated[Poisson | Gamma | Burst | ClosedLoop | TraceArrival, Field(discriminator="type")]

_TOKENS_LIMIT = ("At most 16,777,216 (2^24) tokens; beyond the model's max_context a request is "
                 "rejected.")


class Fixed(_F):
    type: Literal["fixed"]
    value: Int = Field(ge=1, le=MAX_TOKENS, description=(
        f"Every request has this many tokens. {_TOKENS_LIMIT}"))


class Uniform(_F):
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


class Lognormal(_F):
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


class TraceLengths(_F):
    """Lengths drawn from a trace: in order when the arrivals are that trace, else resampled."""

    type: Literal["trace"]
    path: str | None = Field(default=None, description="defaults to the workload's arrival trace")


Lengths = Annotated[Fixed | Uniform | Lognormal | TraceLengths, Field(discriminator="type")]


class SLO(_F):
    ttft_p99_s: Float | None = Field(default=None, gt=0)
    tpot_p99_s: Float | None = Field(default=None, gt=0)
    e2e_p99_s: Float | None = Field(default=None, gt=0)


class Workload(_F):
    name: str = Field(min_length=1)
    arrival: Arrival
    prompt_tokens: Lengths | None = None
    output_tokens: Lengths | None = None
    slo: SLO = SLO()

    @model_validator(mode="after")
    def _lengths(self):
        is_trace = isinstance(self.arrival, TraceArrival)
        for k in ("prompt_tokens", "output_tokens"):
            v = getattr(self, k)
            if v is None and not is_trace:
                raise ValueError(f"{k} is required unless arrival.type is trace")
            if isinstance(v, TraceLengths) and v.path is None and not is_trace:
                raise ValueError(f"{k}.path is required when arrival.type is not trace")
        return self


# ---- cost, engine ---------------------------------------------------------------------------


class TCO(_F):
    """Owner's cost per chip-hour: straight-line capex plus electricity at the facility's PUE."""

    capex_usd: Float = Field(gt=0, description=(
        "per chip, including its share of host, network and rack"))
    lifetime_years: Float = Field(default=LIFETIME_YEARS, gt=0)
    electricity_usd_per_kwh: Float = Field(default=ELECTRICITY_USD_PER_KWH, ge=0)
    pue: Float = Field(default=PUE, ge=1)


class Cost(_F):
    chip_hour_usd: Float | None = Field(default=None, ge=0)
    tco: TCO | None = None

    @model_validator(mode="after")
    def _one(self):
        if self.chip_hour_usd is not None and self.tco is not None:
            raise ValueError("give either chip_hour_usd or tco, not both")
        return self


class Engine(_F):
    fast_forward: bool = True
    drain: bool = True
    max_drain_s: Float | None = Field(default=None, gt=0, description=(
        "stop draining after this long past the horizon"))
    timeline_bin_s: Float | None = Field(default=None, gt=0, description=(
        "Width of `Result.timeline` bins; default about 1/120 of the run, rounded to 1, 2 or 5 x "
        "10^n s. `horizon_s / timeline_bin_s` may be at most 1,000,000 bins."))
    max_requests: Int = Field(default=20_000_000, ge=1, le=200_000_000,
                              description="refuse (before drawing them) workloads that would issue more requests than this")


class Uncertainty(_F):
    samples: Int = Field(default=0, ge=0, le=1000)


class Scenario(_F):
    name: str = "scenario"
    description: str = ""
    seed: Int = Field(default=0, ge=0, le=(1 << 63) - 1, description=(
        "Seed of every random stream (arrivals, lengths, router); the same scenario and seed give "
        "identical frames. At most 2^63 - 1."))
    horizon_s: Float = Field(default=600.0, gt=0, le=MAX_HORIZON_S, description=(
        "Simulated seconds during which requests arrive. In-flight work then drains unless "
        "`engine.drain` is false. At most 1e7 s (about four months)."))
    hardware: Hardware = Hardware()
    model: str | ModelSpec = "llama-3.1-70b"
    precision: PrecisionCfg = PrecisionCfg()
    deployment: Deployment = Deployment()
    router: Router = Router()
    workload: list[Workload] = Field(min_length=1)
    cost: Cost = Cost()
    engine: Engine = Engine()
    uncertainty: Uncertainty = Uncertainty()

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @field_validator("model")
    @classmethod
    def _known_model(cls, v):
        if isinstance(v, str):
            catalog.model(v)
        return v

    @field_validator("workload")
    @classmethod
    def _unique_names(cls, v):
        names = [w.name for w in v]
        dup = {n for n in names if names.count(n) > 1}
        if dup or "all" in names:
            raise ValueError(f"workload names must be unique and not 'all' (got {sorted(dup or {'all'})})")
        return v

    @model_validator(mode="after")
    def _consistent(self):
        """Rules over several keys, in order: fleet sizes, timeline size, the resolved chip and
        calibration (overrides applied), and the parallelism that chip and model allow."""
        _check_sizes(self)
        _check_timeline(self)
        chip = self.chip_spec()
        self.calibration()
        _check_tensor_parallel(self.deployment.tensor_parallel, chip, self.model_spec(),
                               self.chip_name, self.model_name)
        return self

    # ---- resolved views --------------------------------------------------------------------
    @property
    def replicas(self) -> int:
        d = self.deployment
        return d.replicas if d.replicas is not None else self.hardware.chips // (d.tensor_parallel * d.pipeline_parallel)

    @property
    def chips(self) -> int:
        d = self.deployment
        return self.replicas * d.tensor_parallel * d.pipeline_parallel

    @property
    def chip_name(self) -> str:
        c = self.hardware.chip
        return c if isinstance(c, str) else (c.description or "custom")

    @property
    def model_name(self) -> str:
        m = self.model
        return m if isinstance(m, str) else (m.hf_id or "custom")

    def chip_spec(self) -> ChipSpec:
        c = self.hardware.chip
        spec = catalog.chip(c) if isinstance(c, str) else c
        if self.hardware.chip_overrides:
            data = _deep_merge(spec.model_dump(), self.hardware.chip_overrides)
            spec = _resolve(ChipSpec, data, "hardware.chip_overrides")
        return spec

    def model_spec(self) -> ModelSpec:
        return catalog.model(self.model) if isinstance(self.model, str) else self.model

    def calibration(self) -> Calibration:
        c = self.hardware.chip
        base = catalog.calibration(c) if isinstance(c, str) else Calibration(chip="custom")
        if self.hardware.calibration:
            data = _deep_merge(base.model_dump(), self.hardware.calibration)
            base = _resolve(Calibration, data, "hardware.calibration")
        return base

    def resolve_path(self, p: str) -> str:
        """Trace paths: ``azure:conv``/``azure:code`` are bundled; others are relative to the YAML file."""
        if p.startswith("azure:"):
            from importlib import resources

            kind = p.split(":", 1)[1]
            if kind not in ("conv", "code"):
                raise ScenarioError(f"unknown bundled trace {p!r} (allowed: azure:conv, azure:code)")
            return str(resources.files("maiasim").joinpath("data", f"AzureLLMInferenceTrace_{kind}.csv"))
        path = Path(p).expanduser()
        return str(path if path.is_absolute() else (self._base_dir / path))

    def with_overrides(self, overrides: dict[str, Any]) -> Scenario:
        """A changed copy: ``{"deployment.replicas": 8, "workload.0.arrival.rate_per_s": 5}``.

        Fleet size follows the override: setting ``deployment.replicas`` re-derives
        ``hardware.chips``; setting ``hardware.chips`` or the parallelism re-derives the replicas."""
        data = self.model_dump(exclude_defaults=False)
        apply_overrides(data, overrides)
        return from_dict(data, base_dir=self._base_dir)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json", exclude_none=True), sort_keys=False)


# ---- rules over several keys ------------------------------------------------------------------


def _check_sizes(sc: Scenario) -> None:
    d = sc.deployment
    per = d.tensor_parallel * d.pipeline_parallel
    chips = sc.hardware.chips
    if d.replicas is None and chips is None:
        raise ValueError("give hardware.chips or deployment.replicas")
    if chips is not None and chips % per:
        raise ValueError(f"hardware.chips={chips} is not a multiple of tensor_parallel x "
                         f"pipeline_parallel = {per}")
    if chips is not None and d.replicas is not None and chips != d.replicas * per:
        raise ValueError(f"hardware.chips={chips} but deployment.replicas x tensor_parallel x "
                         f"pipeline_parallel = {d.replicas * per}")
    if sc.chips > MAX_CHIPS:
        raise ValueError(f"deployment: replicas x tensor_parallel x pipeline_parallel = {sc.chips} "
                         f"chips, more than the {MAX_CHIPS} allowed (the limit of hardware.chips)")
    if sc.replicas > MAX_REPLICAS:
        raise ValueError(f"deployment.replicas: hardware.chips={chips} gives {sc.replicas} "
                         f"replicas, more than the {MAX_REPLICAS} allowed; raise tensor_parallel "
                         "or lower hardware.chips")


def _check_timeline(sc: Scenario) -> None:
    """The timeline allocates horizon / bin bins: refuse a bin that would make millions."""
    b = sc.engine.timeline_bin_s
    if b is not None and sc.horizon_s / b > MAX_TIMELINE_BINS:
        raise ValueError(f"engine.timeline_bin_s: {b:g} s gives horizon_s / timeline_bin_s = "
                         f"{sc.horizon_s / b:.3g} bins, more than the {MAX_TIMELINE_BINS} bins "
                         f"allowed (use at least {sc.horizon_s / MAX_TIMELINE_BINS:g} s)")


def tensor_parallel_degrees(chip: ChipSpec, model: ModelSpec) -> list[int]:
    """Tensor-parallel degrees the model and chip allow: each divides the attention heads, divides
    the KV heads or is a multiple of them (each chip then holds a replica of a KV head, as serving
    engines do), and fits the chip's largest scale-up domain."""
    domain = chip.scale_up[-1].chips
    kv = model.kv_heads
    return [t for t in range(1, min(model.heads, domain) + 1)
            if model.heads % t == 0 and (kv % t == 0 or t % kv == 0)]


def _check_tensor_parallel(tp: int, chip: ChipSpec, model: ModelSpec, chip_name: str,
                           model_name: str) -> None:
    """A clear error for a TP group the model cannot be split over or the network cannot hold."""
    if tp == 1:
        return
    domain = chip.scale_up[-1].chips
    if tp > domain:
        why = (f"exceeds {chip_name}'s largest scale-up domain ({domain} chips): a tensor-parallel "
               f"group must fit in one")
    elif model.heads % tp:
        why = f"does not divide {model_name}'s {model.heads} attention heads"
    elif model.kv_heads % tp and tp % model.kv_heads:
        why = (f"neither divides {model_name}'s {model.kv_heads} KV heads nor is a multiple of "
               f"them")
    else:
        return
    allowed = ", ".join(map(str, tensor_parallel_degrees(chip, model)))
    raise ValueError(f"deployment.tensor_parallel: {tp} {why} (allowed: {allowed})")


# ---- loading and error formatting -------------------------------------------------------------


def _deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
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
                raise ScenarioError(f"{dotted}: {part!r} is not a valid index (the list has {len(node)} items)")
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
            raise ScenarioError(f"{dotted}: cannot set a field inside {'.'.join(parts[:i])!r} (a {type(node).__name__})")


def apply_overrides(data: dict, overrides: dict[str, Any]) -> None:
    """Set dotted paths in a scenario dict, keeping chips = replicas x TP x PP consistent."""
    keys = set(overrides)
    for key, value in overrides.items():
        _set_path(data, key, value)
    hw, dep = data.get("hardware"), data.get("deployment")
    if not isinstance(hw, dict) or not isinstance(dep, dict):
        return
    if "deployment.replicas" in keys and "hardware.chips" not in keys:
        hw["chips"] = None
    elif keys & {"hardware.chips", "deployment.tensor_parallel", "deployment.pipeline_parallel"} and \
            "deployment.replicas" not in keys and hw.get("chips") is not None:
        dep["replicas"] = None


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
    return _head(_problem_lines(err, prefix))


def _validate(cls, data, prefix: str = ""):
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        raise ScenarioError(format_validation_error(e, prefix)) from None


def _resolve(cls, data, prefix: str):
    """Validate a merged nested spec; its problems keep their paths under ``prefix``."""
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        raise _Problems(_problem_lines(e, prefix)) from None


def from_dict(data: dict, base_dir: str | Path | None = None) -> Scenario:
    """Validate a scenario given as a dict (e.g. parsed YAML)."""
    if not isinstance(data, dict):
        raise ScenarioError(f"invalid scenario: the top level must be a mapping, got {type(data).__name__}")
    try:
        sc = _validate(Scenario, data)
    except RecursionError:  # from the Python API: a dict that contains itself, or one nested
        raise ScenarioError("invalid scenario: the data is nested too deeply or contains itself "
                            f"(at most {MAX_DEPTH} levels)") from None
    sc._base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
    return sc


# ---- reading YAML, bounded ----------------------------------------------------------------------


class _Refused(yaml.MarkedYAMLError):
    """A YAML document over the loader's limits."""


class _BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses documents nested deeper than :data:`MAX_DEPTH` or expanding
    to more than :data:`MAX_NODES` nodes, an alias counting its target's nodes at every use. Both
    are counted while the document is composed, so an alias bomb or a huge list is refused after at
    most MAX_NODES nodes of work, before anything is built from it."""

    def __init__(self, stream: str, name: str = "<string>"):
        super().__init__(stream)
        self.name = name
        self._depth = 0
        self._total = 0  # expanded nodes so far
        self._sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded nodes, height)

    def fetch_flow_collection_start(self, TokenClass):
        """Refuse deep flow nesting as it is scanned: the scanner looks up to 1024 characters ahead
        for a possible key, and at each flow level that lookahead costs more."""
        if self.flow_level >= MAX_DEPTH:
            raise _Refused(None, None, f"nested deeper than {MAX_DEPTH} levels", self.get_mark())
        super().fetch_flow_collection_start(TokenClass)

    def add_indent(self, column):
        if len(self.indents) >= MAX_DEPTH:
            raise _Refused(None, None, f"nested deeper than {MAX_DEPTH} levels", self.get_mark())
        return super().add_indent(column)

    def compose_node(self, parent, index):
        mark = self.peek_event().start_mark
        if self.check_event(yaml.AliasEvent):
            node = super().compose_node(parent, index)
            if id(node) not in self._sizes:
                raise _Refused(None, None, "an alias inside the node it refers to (a recursive "
                               "alias) cannot be a scenario", mark)
            self._count(self._sizes[id(node)][0], mark)
            return node
        self._count(1, mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(None, None, f"nested deeper than {MAX_DEPTH} levels", mark)
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._measure(node, mark)
        return node

    def _count(self, nodes: int, mark) -> None:
        self._total += nodes
        if self._total > MAX_NODES:
            raise _Refused(None, None, f"the document expands to more than {MAX_NODES} nodes "
                           "(an alias counts its target at every use)", mark)

    def _measure(self, node: yaml.Node, mark) -> None:
        """Record the node's expanded size and height, for the aliases that refer to it."""
        if isinstance(node, yaml.ScalarNode):
            kids: list = []
        elif isinstance(node, yaml.SequenceNode):
            kids = node.value
        else:
            kids = [n for pair in node.value for n in pair]
        sizes = [self._sizes[id(k)] for k in kids]
        height = 1 + max((h for _, h in sizes), default=0)
        if height > MAX_DEPTH:
            raise _Refused(None, None, f"nested deeper than {MAX_DEPTH} levels once aliases "
                           "are expanded", mark)
        self._sizes[id(node)] = (1 + sum(n for n, _ in sizes), height)

    def construct_mapping(self, node, deep=False):
        """Refuse a key given twice in one mapping: plain YAML keeps the last one silently, so
        ``{cv: 1000000, cv: 2}`` would run with cv 2 and no word said."""
        if isinstance(node, yaml.MappingNode):
            seen: set = set()
            for key, _ in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    if key.value in seen:
                        raise yaml.constructor.ConstructorError(
                            "while reading a mapping", node.start_mark,
                            f"the key {key.value!r} is given twice", key.start_mark)
                    seen.add(key.value)
        return super().construct_mapping(node, deep)

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep)
        except ValueError as e:  # an integer of thousands of digits, a date like 2001-02-30
            what = str(e).split(";")[0]
            raise yaml.constructor.ConstructorError(None, None, what, node.start_mark) from None


def load_yaml(text: str, source: str = "<string>") -> Any:
    """Parse one YAML document within the loader's limits; any failure is a ScenarioError."""
    loader = None
    try:
        loader = _BoundedLoader(text, source)
        return loader.get_single_data()
    except _Refused as e:
        raise LimitExceeded(f"{source}: refused: {e}") from None
    except yaml.YAMLError as e:
        raise ScenarioError(f"{source}: not valid YAML: {e}") from None
    finally:
        if loader is not None:
            loader.dispose()


def read_scenario_text(path: str | Path) -> str:
    """The text of a scenario file: a regular file (never a FIFO or device, which could block or
    never end) of at most :data:`MAX_FILE_BYTES`, in UTF-8."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise ScenarioError(f"scenario file not found: {p}") from None
    except (OSError, ValueError) as e:
        why = getattr(e, "strerror", None) or e
        raise ScenarioError(f"cannot read scenario file {p}: {why}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ScenarioError(f"{p}: not a regular file (a scenario must be a YAML file)")
    with os.fdopen(fd, "rb") as f:
        try:
            data = f.read(MAX_FILE_BYTES + 1)
        except OSError as e:
            raise ScenarioError(f"cannot read scenario file {p}: {e.strerror or e}") from None
    if len(data) > MAX_FILE_BYTES:
        raise LimitExceeded(f"{p}: larger than {MAX_FILE_BYTES >> 20} MiB; a scenario file is a "
                            "few kB (traces go in separate CSV files)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ScenarioError(f"{p}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset "
                            f"{e.start}); save the file as UTF-8") from None


def load_scenario(path: str | Path, overrides: dict[str, Any] | None = None) -> Scenario:
    """Read and validate a scenario YAML file; ``overrides`` are dotted paths applied first."""
    p = Path(path)
    data = load_yaml(read_scenario_text(p), str(p))
    if overrides:
        if not isinstance(data, dict):
            raise ScenarioError(f"invalid scenario: the top level must be a mapping, got {type(data).__name__}")
        apply_overrides(data, overrides)
    return from_dict(data, base_dir=p.resolve().parent)
