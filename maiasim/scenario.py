"""The scenario: a YAML file validated into typed, frozen models.

Loading never executes anything from the file (``yaml.safe_load``). Any mistake becomes one
:class:`ScenarioError` naming the field path, the bad value and what is allowed.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from . import catalog
from .calibration import Calibration
from .hardware import ChipSpec, Precision
from .model import ModelSpec


class ScenarioError(ValueError):
    """A scenario that cannot be used; the message is meant for the user as is."""


class _F(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# ---- hardware, model, precision -------------------------------------------------------------


class Hardware(_F):
    chip: str | ChipSpec = "maia200"
    #: total chips; must equal replicas x tensor_parallel x pipeline_parallel when both are given
    chips: int | None = Field(default=None, ge=1)
    #: what-if changes to the chip's catalog figures, e.g. {hbm_bandwidth_bytes_per_s: 8.0e12}
    chip_overrides: dict[str, Any] = {}
    #: changes to the chip's calibration, e.g. {hbm_fraction: 0.7}
    calibration: dict[str, Any] = {}

    @field_validator("chip")
    @classmethod
    def _known_chip(cls, v):
        if isinstance(v, str):
            catalog.chip(v)
        return v


class PrecisionCfg(_F):
    weights: Precision = "fp8"
    activations: Precision = "fp8"
    kv_cache: Precision = "fp8"


class Scheduler(_F):
    max_batch_tokens: int = Field(default=8192, ge=16, le=1 << 20)
    max_num_seqs: int = Field(default=256, ge=1, le=1 << 16)
    chunked_prefill: bool = True
    block_tokens: int = Field(default=16, ge=1)
    hbm_utilization: float = Field(default=0.9, gt=0, le=1)
    queue_timeout_s: float | None = Field(default=None, gt=0, description="drop a request still queued this long after arrival (a client giving up)")


class Deployment(_F):
    tensor_parallel: int = Field(default=1, ge=1)
    pipeline_parallel: int = Field(default=1, ge=1)
    replicas: int | None = Field(default=None, ge=1)
    scheduler: Scheduler = Scheduler()


class Router(_F):
    policy: Literal["round_robin", "least_outstanding", "random"] = "least_outstanding"


# ---- workload -------------------------------------------------------------------------------


class Poisson(_F):
    type: Literal["poisson"]
    rate_per_s: float = Field(gt=0)


class Gamma(_F):
    type: Literal["gamma"]
    rate_per_s: float = Field(gt=0)
    cv: float = Field(gt=0, description="coefficient of variation of inter-arrival times (1 = Poisson)")


class Burst(_F):
    type: Literal["burst"]
    count: int = Field(ge=1)


class ClosedLoop(_F):
    type: Literal["closed_loop"]
    concurrency: int = Field(ge=1)
    count: int = Field(ge=1)
    think_time_s: float = Field(default=0.0, ge=0)


class TraceArrival(_F):
    type: Literal["trace"]
    path: str = Field(description="CSV with TIMESTAMP, ContextTokens, GeneratedTokens; or azure:conv / azure:code")
    time_scale: float = Field(default=1.0, gt=0, description="multiplies inter-arrival gaps (0.5 = twice the rate)")
    start_s: float = Field(default=0.0, ge=0, description="skip the trace's first start_s seconds")


Arrival = Annotated[Poisson | Gamma | Burst | ClosedLoop | TraceArrival, Field(discriminator="type")]


class Fixed(_F):
    type: Literal["fixed"]
    value: int = Field(ge=1)


class Uniform(_F):
    type: Literal["uniform"]
    low: int = Field(ge=1)
    high: int = Field(ge=1)

    @model_validator(mode="after")
    def _order(self):
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) must be >= low ({self.low})")
        return self


class Lognormal(_F):
    type: Literal["lognormal"]
    median: float = Field(gt=0)
    sigma: float = Field(ge=0)
    max: int = Field(default=1 << 20, ge=1)
    min: int = Field(default=1, ge=1)


class TraceLengths(_F):
    """Lengths drawn from a trace: in order when the arrivals are that trace, else resampled."""

    type: Literal["trace"]
    path: str | None = Field(default=None, description="defaults to the workload's arrival trace")


Lengths = Annotated[Fixed | Uniform | Lognormal | TraceLengths, Field(discriminator="type")]


class SLO(_F):
    ttft_p99_s: float | None = Field(default=None, gt=0)
    tpot_p99_s: float | None = Field(default=None, gt=0)
    e2e_p99_s: float | None = Field(default=None, gt=0)


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

    capex_usd: float = Field(gt=0, description="per chip, including its share of host, network and rack")
    lifetime_years: float = Field(default=6.0, gt=0)
    electricity_usd_per_kwh: float = Field(default=0.068, ge=0)
    pue: float = Field(default=1.12, ge=1)


class Cost(_F):
    chip_hour_usd: float | None = Field(default=None, ge=0)
    tco: TCO | None = None

    @model_validator(mode="after")
    def _one(self):
        if self.chip_hour_usd is not None and self.tco is not None:
            raise ValueError("give either chip_hour_usd or tco, not both")
        return self


class Engine(_F):
    fast_forward: bool = True
    drain: bool = True
    max_drain_s: float | None = Field(default=None, gt=0, description="stop draining after this long past the horizon")
    timeline_bin_s: float | None = Field(default=None, gt=0)
    max_requests: int = Field(default=20_000_000, ge=1, le=200_000_000,
                              description="refuse (before drawing them) workloads that would issue more requests than this")


class Uncertainty(_F):
    samples: int = Field(default=0, ge=0, le=1000)


class Scenario(_F):
    name: str = "scenario"
    description: str = ""
    seed: int = Field(default=0, ge=0)
    horizon_s: float = Field(default=600.0, gt=0)
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
    def _sizes(self):
        d = self.deployment
        per = d.tensor_parallel * d.pipeline_parallel
        chips = self.hardware.chips
        if d.replicas is None and chips is None:
            raise ValueError("give hardware.chips or deployment.replicas")
        if chips is not None and chips % per:
            raise ValueError(f"hardware.chips={chips} is not a multiple of tensor_parallel x pipeline_parallel = {per}")
        if chips is not None and d.replicas is not None and chips != d.replicas * per:
            raise ValueError(f"hardware.chips={chips} but deployment.replicas x tensor_parallel x pipeline_parallel = {d.replicas * per}")
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
            spec = _validate(ChipSpec, data, "hardware.chip_overrides")
        return spec

    def model_spec(self) -> ModelSpec:
        return catalog.model(self.model) if isinstance(self.model, str) else self.model

    def calibration(self) -> Calibration:
        c = self.hardware.chip
        base = catalog.calibration(c) if isinstance(c, str) else Calibration(chip="custom")
        if self.hardware.calibration:
            base = _validate(Calibration, _deep_merge(base.model_dump(), self.hardware.calibration), "hardware.calibration")
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


def _fmt_loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("poisson", "gamma", "burst", "closed_loop", "trace", "fixed", "uniform", "lognormal", "str", "ChipSpec", "ModelSpec"):
            continue  # discriminator / union branch tags add nothing for the reader
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def format_validation_error(err: ValidationError, prefix: str = "") -> str:
    lines = []
    seen = set()
    for e in err.errors():
        path = _fmt_loc(tuple(e["loc"]))
        if prefix:
            path = f"{prefix}.{path}" if path != "(top level)" else prefix
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling; see docs/scenario-reference.md)"
        value = e.get("input")
        shown = repr(value) if not isinstance(value, dict) else "{...}"
        if len(shown) > 60:
            shown = shown[:57] + "..."
        key = (path, msg)
        if key in seen:
            continue
        seen.add(key)
        lines.append(f"{path}: {msg} (got {shown})" if e["type"] != "missing" else f"{path}: field required")
    head = "invalid scenario" if len(lines) == 1 else f"invalid scenario ({len(lines)} problems)"
    return head + ":\n  " + "\n  ".join(lines)


def _validate(cls, data, prefix: str = ""):
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        raise ScenarioError(format_validation_error(e, prefix)) from None


def from_dict(data: dict, base_dir: str | Path | None = None) -> Scenario:
    """Validate a scenario given as a dict (e.g. parsed YAML)."""
    if not isinstance(data, dict):
        raise ScenarioError(f"invalid scenario: the top level must be a mapping, got {type(data).__name__}")
    sc = _validate(Scenario, data)
    sc._base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
    return sc


def load_scenario(path: str | Path, overrides: dict[str, Any] | None = None) -> Scenario:
    """Read and validate a scenario YAML file; ``overrides`` are dotted paths applied first."""
    p = Path(path)
    if not p.is_file():
        raise ScenarioError(f"scenario file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ScenarioError(f"{p}: not valid YAML: {e}") from None
    if overrides:
        if not isinstance(data, dict):
            raise ScenarioError(f"invalid scenario: the top level must be a mapping, got {type(data).__name__}")
        apply_overrides(data, overrides)
    return from_dict(data, base_dir=p.resolve().parent)
