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

from ..errors import ScenarioError
from ..spec.calibration import Calibration
from ..spec.hardware import ChipSpec, Float, Int
from ..spec.model import ModelSpec
from .cost import CostConfig
from .datacenter import DatacenterConfig
from .deployment import DeploymentConfig, HardwareConfig, PrecisionConfig, RouterConfig
from .engine_cfg import EngineConfig, UncertaintyConfig
from .failures import FailuresConfig
from .fields import ConfigModel
from .fleet import FleetConfig, PoolConfig, check_pool, known_model, tensor_parallel_degrees
from .limits import MAX_CHIPS, MAX_DEPTH, MAX_HORIZON_S, MAX_REPLICAS, MAX_TIMELINE_BINS
from .messages import validate
from .overrides import apply_overrides
from .workloads import WorkloadConfig

__all__ = ["Scenario", "from_dict", "tensor_parallel_degrees"]

#: top-level sections that describe the one pool of a scenario without ``fleet``
_POOL_SECTIONS = ("hardware", "model", "precision", "deployment", "router", "cost")


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
    fleet: FleetConfig | None = Field(default=None, description=(
        "Several pools (chips, models, roles) behind one fleet router. Without it the scenario "
        "is one pool made of the top-level `hardware`, `model`, `precision`, `deployment`, "
        "`router` and `cost`, which must then not be given."))
    failures: FailuresConfig | None = Field(default=None, description=(
        "Component failures (chip, HBM, host, link) at published fleet rates, repairs, planned "
        "drains and retries; default: nothing fails."))

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _pools: tuple[PoolConfig, ...] | None = PrivateAttr(default=None)

    _known_model = field_validator("model")(known_model)

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
        """Rules over several keys, in order: the fleet or the one pool's sections (fleet size,
        resolved chip and calibration, the parallelism they allow), the workloads' models and
        SLO classes against the pools, and the timeline's size."""
        if self.fleet is None:
            check_pool(self.pools[0])
        else:
            given = sorted(set(_POOL_SECTIONS) & self.model_fields_set)
            if given:
                raise ValueError(f"with fleet, give {', '.join(given)} in each of fleet.pools[] "
                                 "(the top-level sections describe a scenario of one pool)")
        _check_fleet_size(self)
        _check_served(self)
        _check_timeline(self)
        return self

    # ---- resolved views --------------------------------------------------------------------
    @property
    def pools(self) -> tuple[PoolConfig, ...]:
        """The fleet's pools; a scenario without ``fleet`` is one pool of its top-level sections
        (named after its chip)."""
        if self._pools is None:
            if self.fleet is not None:
                self._pools = tuple(self.fleet.pools)
            else:
                chip = self.hardware.chip
                name = chip if isinstance(chip, str) else "pool"
                self._pools = (PoolConfig.model_construct(
                    name=name, role="mixed", slo_classes=(),
                    **{k: getattr(self, k) for k in _POOL_SECTIONS}),)
        return self._pools

    @property
    def replicas(self) -> int:
        """Model replicas of the whole fleet."""
        return sum(p.replicas for p in self.pools)

    @property
    def chips(self) -> int:
        """Chips of the whole fleet."""
        return sum(p.chips for p in self.pools)

    def pool(self) -> PoolConfig:
        """The one pool of a single-pool scenario (a ScenarioError for a fleet of several: use
        :attr:`pools`)."""
        if len(self.pools) != 1:
            raise ScenarioError(f"scenario {self.name!r} is a fleet of {len(self.pools)} pools "
                                f"({', '.join(p.name for p in self.pools)}); this needs one pool "
                                "(use scenario.pools)")
        return self.pools[0]

    @property
    def chip_name(self) -> str:
        """The chip's name (pools of different chips: their names joined by '+')."""
        return "+".join(dict.fromkeys(p.chip_name for p in self.pools))

    @property
    def model_name(self) -> str:
        """The model's name (several models: their names joined by '+')."""
        return "+".join(dict.fromkeys(p.model_name for p in self.pools))

    def describe(self) -> str:
        """The fleet in one line: its one pool, or each pool by name."""
        if self.fleet is None:
            return self.pools[0].describe()
        return f"a fleet of {len(self.pools)} pools: " + "; ".join(
            f"{p.name}: {p.describe()}" for p in self.pools)

    def chip_spec(self) -> ChipSpec:
        """The one pool's chip as simulated (see :meth:`PoolConfig.chip_spec`)."""
        return self.pool().chip_spec()

    def model_spec(self) -> ModelSpec:
        """The one pool's model (see :meth:`PoolConfig.model_spec`)."""
        return self.pool().model_spec()

    def calibration(self) -> Calibration:
        """The one pool's calibration (see :meth:`PoolConfig.calibration`)."""
        return self.pool().calibration()

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
        data = self.model_dump(exclude_defaults=False, exclude=self._not_given())
        apply_overrides(data, overrides)
        return from_dict(data, base_dir=self._base_dir)

    def to_yaml(self) -> str:
        """The scenario as YAML that loads back to an equal scenario (defaults written out)."""
        return yaml.safe_dump(self.model_dump(mode="json", exclude_none=True,
                                              exclude=self._not_given()), sort_keys=False)

    def _not_given(self) -> set[str]:
        """Top-level sections a fleet scenario leaves out (they describe a single pool)."""
        return set(_POOL_SECTIONS) if self.fleet is not None else set()


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


def _check_fleet_size(sc: Scenario) -> None:
    if sc.chips > MAX_CHIPS:
        raise ValueError(f"fleet: {sc.chips} chips over all pools, more than the {MAX_CHIPS} "
                         "allowed")
    if sc.replicas > MAX_REPLICAS:
        raise ValueError(f"fleet: {sc.replicas} replicas over all pools, more than the "
                         f"{MAX_REPLICAS} allowed")


def _check_served(sc: Scenario) -> None:
    """Every workload has a pool that serves its model and SLO class, and every prefill pool a
    decode pool of its model to hand over to."""
    pools = sc.pools
    models = {p.model_name for p in pools}
    for i, w in enumerate(sc.workload):
        model = w.model or (pools[0].model_name if len(models) == 1 else None)
        if model is None:
            raise ValueError(f"workload.{i}.model: the fleet serves several models "
                             f"({', '.join(sorted(models))}); name the one this workload needs")
        entry = [p for p in pools if p.model_name == model and p.role != "decode"
                 and (not p.slo_classes or w.slo_class in p.slo_classes)]
        if not entry:
            raise ValueError(f"workload.{i}: no mixed or prefill pool serves model {model!r} "
                             f"with SLO class {w.slo_class!r} (pools: "
                             f"{', '.join(f'{p.name}={p.model_name}/{p.role}' for p in pools)})")
    for p in pools:
        if p.role == "prefill" and not any(q.role == "decode" and q.model_name == p.model_name
                                           for q in pools):
            raise ValueError(f"fleet.pools: prefill pool {p.name!r} has no decode pool serving "
                             f"{p.model_name!r} to hand its KV caches to")


def _check_timeline(sc: Scenario) -> None:
    """The timeline allocates horizon / bin bins: refuse a bin that would make millions."""
    b = sc.engine.timeline_bin_s
    if b is not None and sc.horizon_s / b > MAX_TIMELINE_BINS:
        raise ValueError(f"engine.timeline_bin_s: {b:g} s gives horizon_s / timeline_bin_s = "
                         f"{sc.horizon_s / b:.3g} bins, more than the {MAX_TIMELINE_BINS} bins "
                         f"allowed (use at least {sc.horizon_s / MAX_TIMELINE_BINS:g} s)")
