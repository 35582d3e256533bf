"""The fleet: one or more pools of replicas, each its own chip, model, precision and parallelism.

A pool is the unit of serving (every replica of a pool is the same); a fleet puts several side by
side (Maia 200 beside GB200, a dense and a MoE model, prefill pools handing their KV caches to
decode pools) behind one fleet router. A scenario without ``fleet`` is a fleet of one pool built
from its top-level ``hardware``, ``model``, ``precision``, ``deployment``, ``router`` and
``cost``, so every single-pool file keeps working unchanged.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from .. import catalog
from ..spec.calibration import Calibration
from ..spec.hardware import ChipSpec, Float
from ..spec.model import ModelSpec
from .cost import CostConfig
from .deployment import (
    DeploymentConfig,
    HardwareConfig,
    PrecisionConfig,
    RouterConfig,
    check_expert_parallel,
)
from .fields import ConfigModel
from .limits import MAX_CHIPS, MAX_REPLICAS
from .messages import validate_nested
from .overrides import deep_merge

__all__ = [
    "FLEET_POLICIES", "FleetConfig", "KVTransferConfig", "PoolConfig", "check_pool",
    "check_tensor_parallel", "tensor_parallel_degrees",
]

#: fleet routing policies (which pool an arrival goes to); see maiasim/engine/fleet.py
FLEET_POLICIES = ("least_load", "cost_aware", "spill_over")

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


def known_model(v):
    """A model named from the catalog must be in it (an inline spec validates itself)."""
    if isinstance(v, str):
        catalog.model(v)
    return v


class PoolConfig(ConfigModel):
    """A pool: identical replicas of one chip serving one model, with their own scheduler, router
    and price, and a role (``mixed`` serves whole requests; ``prefill`` runs prompts and hands the
    KV cache to a ``decode`` pool of the same model)."""

    name: str = Field(max_length=64, pattern=_NAME, description=(
        "Unique name of the pool; frames carry it in their `pool` column."))
    role: Literal["mixed", "prefill", "decode"] = Field(default="mixed", description=(
        "`mixed`: prefill and decode in the same replica; `prefill`: runs prompts (and the first "
        "token) then hands the KV cache to a `decode` pool serving the same model."))
    hardware: HardwareConfig = Field(default=HardwareConfig(), description=(
        "The pool's chip and chip count, as the top-level `hardware` of a single-pool scenario."))
    model: str | ModelSpec = Field(default="llama-3.1-70b", description=(
        "The model the pool serves: a catalog name or an inline spec."))
    precision: PrecisionConfig = Field(default=PrecisionConfig(), description=(
        "Numeric formats of the pool's weights, activations and KV cache."))
    deployment: DeploymentConfig = Field(default=DeploymentConfig(), description=(
        "The pool's parallelism, replicas and scheduler."))
    router: RouterConfig = Field(default=RouterConfig(), description=(
        "How the pool spreads its requests over its replicas."))
    cost: CostConfig = Field(default=CostConfig(), description=(
        "The price of the pool's chips."))
    slo_classes: tuple[str, ...] = Field(default=(), max_length=64, description=(
        "SLO classes this pool serves (e.g. [interactive]); empty: every class."))

    _known_model = field_validator("model")(known_model)

    @model_validator(mode="after")
    def _consistent(self):
        check_pool(self)
        return self

    # ---- resolved views --------------------------------------------------------------------
    @property
    def replicas(self) -> int:
        """Model replicas: as given, or derived from ``hardware.chips`` and the parallelism."""
        d = self.deployment
        if d.replicas is not None:
            return d.replicas
        return self.hardware.chips // d.chips_per_replica

    @property
    def chips(self) -> int:
        """Chips in the pool: replicas x chips per replica (tensor_parallel x pipeline_parallel,
        or max(tensor_parallel, expert_parallel) x pipeline_parallel)."""
        return self.replicas * self.deployment.chips_per_replica

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

    def describe(self) -> str:
        """One line: chips, chip, replicas, parallelism, model (and role, when not mixed)."""
        d = self.deployment
        role = "" if self.role == "mixed" else f", {self.role}"
        ep = f"/EP{d.expert_parallel}" if d.expert_parallel > 1 else ""
        return (f"{self.chips} x {self.chip_name} as {self.replicas} replicas of "
                f"TP{d.tensor_parallel}/PP{d.pipeline_parallel}{ep}, {self.model_name}{role}")

    def chip_spec(self) -> ChipSpec:
        """The chip as simulated: the catalog's (or inline) spec with ``chip_overrides`` merged."""
        c = self.hardware.chip
        spec = catalog.chip(c) if isinstance(c, str) else c
        if self.hardware.chip_overrides:
            data = deep_merge(spec.model_dump(), self.hardware.chip_overrides)
            o = self.hardware.chip_overrides
            if type(o.get("hbm_bytes")) in (int, float) and "memory_reported_bytes" not in o \
                    and spec.memory_reported_bytes is not None:  # a what-if capacity: scale both
                data["memory_reported_bytes"] = (spec.memory_reported_bytes / spec.hbm_bytes
                                                 * o["hbm_bytes"])
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


class KVTransferConfig(ConfigModel):
    """The path a disaggregated request's KV cache takes from its prefill replica to its decode
    replica. Each replica's network ports form one link per direction: transfers leaving one
    prefill replica (or entering one decode replica) share it, first come first served."""

    path: Literal["auto", "scale_up", "scale_out"] = Field(default="auto", description=(
        "`auto`: chips are racked in fleet order (pool after pool), so when both pools use the "
        "same catalog chip a transfer takes the innermost scale-up tier whose domain holds both "
        "replicas (tray, NVLink domain, Ethernet tier), else the scale-out network; "
        "`scale_up`: the chip's outermost scale-up tier whatever the placement; `scale_out`: "
        "the datacenter network."))
    scale_out_bandwidth_bytes_per_s: Float = Field(default=50e9, gt=0, le=1e15, description=(
        "Scale-out bandwidth per chip and direction. Default 50 GB/s: one 400 Gb/s NDR "
        "InfiniBand port per GPU, as in Azure ND H100 v5 (8 x 400 Gb/s per VM; "
        "docs/hardware-facts.md, [ND-H100v5])."))
    scale_out_latency_s: Float = Field(default=10e-6, ge=0, le=1.0, description=(
        "Latency of one transfer across the scale-out network (an assumption: a few switch hops "
        "of RDMA, ~10 us)."))


class FleetConfig(ConfigModel):
    """Several pools behind one fleet router."""

    pools: list[PoolConfig] = Field(min_length=1, max_length=64, description=(
        "The pools; each a chip, model, precision, parallelism, scheduler, role and price."))
    router: Literal[FLEET_POLICIES] = Field(default="least_load", description=(  # type: ignore
        "Which pool an arrival goes to, among those serving its model and SLO class: "
        "`least_load` (fewest unfinished requests per replica), `cost_aware` (the cheapest pool "
        "whose estimated TTFT at its current queue meets the request's TTFT target, else the "
        "least loaded), `spill_over` (pools in the order given, the next one when a pool has more "
        "unfinished requests per replica than `spill_over_per_replica`)."))
    spill_over_per_replica: Float = Field(default=32, gt=0, le=1e6, description=(
        "`spill_over`: unfinished requests per replica at which a pool counts as full."))
    admission: Literal["none", "slo"] = Field(default="none", description=(
        "`slo`: reject (reason `slo_admission`) a request whose estimated TTFT on every pool "
        "that could take it exceeds its workload's `slo.ttft_p99_s`, instead of queueing it."))
    kv_transfer: KVTransferConfig = Field(default=KVTransferConfig(), description=(
        "The path of a disaggregated request's KV cache from prefill to decode pool."))

    @field_validator("pools")
    @classmethod
    def _unique(cls, v):
        names = [p.name for p in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"pool names must be unique (given twice: {', '.join(dup)})")
        return v


def check_pool(p) -> None:
    """The rules inside one pool (or a single-pool scenario's top-level sections): fleet size and
    the tensor parallelism its chip and model allow."""
    d = p.deployment
    per = d.chips_per_replica
    what = ("tensor_parallel x pipeline_parallel" if d.expert_parallel == 1
            else "max(tensor_parallel, expert_parallel) x pipeline_parallel")
    chips = p.hardware.chips
    if d.replicas is None and chips is None:
        raise ValueError("give hardware.chips or deployment.replicas")
    if chips is not None and chips % per:
        raise ValueError(f"hardware.chips={chips} is not a multiple of {what} = {per}")
    if chips is not None and d.replicas is not None and chips != d.replicas * per:
        raise ValueError(f"hardware.chips={chips} but deployment.replicas x {what} = "
                         f"{d.replicas * per}")
    if p.chips > MAX_CHIPS:
        raise ValueError(f"deployment: replicas x tensor_parallel x pipeline_parallel = "
                         f"{p.chips} chips, more than the {MAX_CHIPS} allowed (the limit of "
                         "hardware.chips)")
    if p.replicas > MAX_REPLICAS:
        raise ValueError(f"deployment.replicas: hardware.chips={chips} gives {p.replicas} "
                         f"replicas, more than the {MAX_REPLICAS} allowed; raise tensor_parallel "
                         "or lower hardware.chips")
    p.calibration()
    chip, model = p.chip_spec(), p.model_spec()
    check_tensor_parallel(d.tensor_parallel, chip, model, p.chip_name, p.model_name)
    check_expert_parallel(d, chip, model, p.chip_name, p.model_name)


def tensor_parallel_degrees(chip: ChipSpec, model: ModelSpec) -> list[int]:
    """Tensor-parallel degrees the model and chip allow: each divides the attention heads, divides
    the KV heads or is a multiple of them (each chip then holds a replica of a KV head, as serving
    engines do), and fits the chip's largest scale-up domain."""
    domain = chip.scale_up[-1].chips
    kv = model.kv_heads
    return [t for t in range(1, min(model.heads, domain) + 1)
            if model.heads % t == 0 and (kv % t == 0 or t % kv == 0)]


def check_tensor_parallel(tp: int, chip: ChipSpec, model: ModelSpec, chip_name: str,
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
