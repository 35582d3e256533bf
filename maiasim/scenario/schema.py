"""The scenario: one YAML file validated into a typed, frozen :class:`Scenario`.

A scenario is frozen so that it can be a cache key, cross process boundaries and be compared by
value; a change is a new scenario (:meth:`Scenario.with_overrides`). Each section is its own model
(:mod:`.deployment`, :mod:`.workloads`, :mod:`.cost`, :mod:`.engine_cfg`); the rules that involve
several sections (fleet size, timeline size, the parallelism a chip and model allow) are here, and
every mistake becomes one :class:`ScenarioError` naming the field path, the bad value and what is
allowed (:mod:`.messages`). Limits are in the schema (:mod:`.limits`), so absurd input fails
before any memory is spent on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, PrivateAttr, field_validator, model_validator

from .. import catalog
from ..errors import ScenarioError
from ..spec.calibration import Calibration
from ..spec.hardware import ChipSpec, Float, Int
from ..spec.model import ModelSpec
from .cost import CostConfig
from .datacenter import DatacenterConfig
from .deployment import DeploymentConfig, HardwareConfig, PrecisionConfig, RouterConfig
from .engine_cfg import EngineConfig, UncertaintyConfig
from .fields import ConfigModel
from .limits import MAX_CHIPS, MAX_DEPTH, MAX_HORIZON_S, MAX_REPLICAS, MAX_TIMELINE_BINS
from .messages import validate, validate_nested
from .overrides import apply_overrides, deep_merge
from .workloads import WorkloadConfig

__all__ = ["Scenario", "from_dict", "tensor_parallel_degrees"]


class Scenario(ConfigModel):
    """A whole simulation input: the fleet, its model, the traffic it serves, its price and how
    the run is carried out. It is validated as a whole, so a mistake is reported before anything
    runs."""

    name: str = "scenario"
    description: str = ""
    seed: Int = Field(default=0, ge=0, le=(1 << 63) - 1, description=(
        "Seed of every random stream (arrivals, lengths, router); the same scenario and seed give "
        "identical frames. At most 2^63 - 1."))
    horizon_s: Float = Field(default=600.0, gt=0, le=MAX_HORIZON_S, description=(
        "Simulated seconds during which requests arrive. In-flight work then drains unless "
        "`engine.drain` is false. At most 1e7 s (about four months)."))
    hardware: HardwareConfig = HardwareConfig()
    model: str | ModelSpec = "llama-3.1-70b"
    precision: PrecisionConfig = PrecisionConfig()
    deployment: DeploymentConfig = DeploymentConfig()
    router: RouterConfig = RouterConfig()
    workload: list[WorkloadConfig] = Field(min_length=1)
    cost: CostConfig = CostConfig()
    datacenter: DatacenterConfig = Field(default=DatacenterConfig(), description=(
        "Racks, a rack power budget (caps and slows the chips) and the facility's PUE; "
        "docs/economics.md."))
    engine: EngineConfig = EngineConfig()
    uncertainty: UncertaintyConfig = UncertaintyConfig()

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
            raise ValueError(f"workload names must be unique and not 'all' "
                             f"(got {sorted(dup or {'all'})})")
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
        """Model replicas: as given, or derived from ``hardware.chips`` and the parallelism."""
        d = self.deployment
        if d.replicas is not None:
            return d.replicas
        return self.hardware.chips // (d.tensor_parallel * d.pipeline_parallel)

    @property
    def chips(self) -> int:
        """Chips in the fleet: replicas x tensor_parallel x pipeline_parallel."""
        d = self.deployment
        return self.replicas * d.tensor_parallel * d.pipeline_parallel

    @property
    def chip_name(self) -> str:
        """The chip's name for tables and messages (an inline chip: its description)."""
        c = self.hardware.chip
        return c if isinstance(c, str) else (c.description or "custom")

    @property
    def model_name(self) -> str:
        """The model's name for tables and messages (an inline model: its Hugging Face id)."""
        m = self.model
        return m if isinstance(m, str) else (m.hf_id or "custom")

    def chip_spec(self) -> ChipSpec:
        """The chip as simulated: the catalog's (or inline) spec with ``chip_overrides`` merged."""
        c = self.hardware.chip
        spec = catalog.chip(c) if isinstance(c, str) else c
        if self.hardware.chip_overrides:
            data = deep_merge(spec.model_dump(), self.hardware.chip_overrides)
            spec = validate_nested(ChipSpec, data, "hardware.chip_overrides")
        return spec

    def model_spec(self) -> ModelSpec:
        """The model's architecture: the catalog's entry, or the inline spec."""
        return catalog.model(self.model) if isinstance(self.model, str) else self.model

    def calibration(self) -> Calibration:
        """The chip's calibration (generic for an inline chip) with ``hardware.calibration``
        merged in."""
        c = self.hardware.chip
        base = catalog.calibration(c) if isinstance(c, str) else Calibration(chip="custom")
        if self.hardware.calibration:
            data = deep_merge(base.model_dump(), self.hardware.calibration)
            base = validate_nested(Calibration, data, "hardware.calibration")
        return base

    def resolve_path(self, p: str) -> str:
        """Trace paths: ``azure:conv``/``azure:code`` are bundled; others are relative to the
        YAML file."""
        if p.startswith("azure:"):
            kind = p.split(":", 1)[1]
            if kind not in ("conv", "code"):
                raise ScenarioError(f"unknown bundled trace {p!r} "
                                    "(allowed: azure:conv, azure:code)")
            data = resources.files("maiasim").joinpath("data", f"AzureLLMInferenceTrace_{kind}.csv")
            return str(data)
        path = Path(p).expanduser()
        return str(path if path.is_absolute() else (self._base_dir / path))

    def with_overrides(self, overrides: Mapping[str, Any] | None) -> Scenario:
        """A changed copy: ``{"deployment.replicas": 8, "workload.0.arrival.rate_per_s": 5}``;
        the scenario itself when there are no overrides.

        Fleet size follows the override: setting ``deployment.replicas`` re-derives
        ``hardware.chips``; setting ``hardware.chips`` or the parallelism re-derives the replicas,
        so a tensor-parallel sweep at a fixed ``hardware.chips`` changes the replica count, and a
        chip count that the parallelism does not divide is an error. A path that names no field
        is an error too. Relative trace paths stay relative to this scenario's file."""
        if not overrides:
            return self
        data = self.model_dump(exclude_defaults=False)
        apply_overrides(data, overrides)
        return from_dict(data, base_dir=self._base_dir)

    def to_yaml(self) -> str:
        """The scenario as YAML that loads back to an equal scenario (defaults written out)."""
        return yaml.safe_dump(self.model_dump(mode="json", exclude_none=True), sort_keys=False)


def from_dict(data: dict, base_dir: str | Path | None = None) -> Scenario:
    """Validate a scenario given as a dict (e.g. parsed YAML); relative trace paths are resolved
    against ``base_dir`` (default: the current directory)."""
    if not isinstance(data, dict):
        raise ScenarioError(f"invalid scenario: the top level must be a mapping, "
                            f"got {type(data).__name__}")
    try:
        sc = validate(Scenario, data)
    except RecursionError:  # from the Python API: a dict that contains itself, or one nested
        raise ScenarioError("invalid scenario: the data is nested too deeply or contains itself "
                            f"(at most {MAX_DEPTH} levels)") from None
    sc._base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
    return sc


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
