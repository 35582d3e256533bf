"""The fleet a scenario describes: chip, numeric formats, how chips form replicas, routing.

These are settings, named ``...Config`` so that they are never mistaken for the runtime objects
they configure (the engine's router and scheduler, the physics' precisions).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, field_serializer, field_validator

from .. import catalog
from ..spec.hardware import MAX_CHIPS, ChipSpec, Float, Int, Precision
from .fields import ConfigModel, FrozenDict, freeze, thaw
from .limits import MAX_REPLICAS

__all__ = [
    "DeploymentConfig", "FrontEndConfig", "HardwareConfig", "PrecisionConfig", "RouterConfig",
    "SchedulerConfig",
]


class HardwareConfig(ConfigModel):
    """Which chip the fleet is built from and how many; what-if changes to the chip's figures and
    to its calibration are given here rather than by editing the catalog."""

    chip: str | ChipSpec = Field(default="maia200", description=(
        "A catalog chip name (`maiasim catalog chips`) or an inline chip spec (see *Inline chip "
        "spec*)."))
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


class PrecisionConfig(ConfigModel):
    """Numeric formats of weights, activations and KV cache: they set bytes moved and stored, and
    which of the chip's peak rates a kernel runs at."""

    weights: Precision = Field(default="fp8", description=(
        "Format of the stored weights; sets weight bytes and, with activations, the GEMM "
        "precision (the wider of the two)."))
    activations: Precision = Field(default="fp8", description=(
        "Format of activations; GEMMs run at the wider of weights and activations, attention at "
        "the wider of activations and KV cache."))
    kv_cache: Precision | None = Field(default=None, description=(
        "Format of the KV cache; sets KV bytes per token (capacity and decode traffic). "
        "Omitted: the serving stack's default (`vllm`, `sglang`: BF16, the model's dtype; "
        "`trtllm`: FP8 for quantized weights)."))
    communication: Precision = Field(default="bf16", description=(
        "Format of the tensor-parallel all-reduce and pipeline-stage sends (bytes on the wire "
        "per activation value). Serving stacks reduce in BF16 even when activations are FP8."))


class SchedulerConfig(ConfigModel):
    """Each replica's continuous-batching scheduler, with vLLM's knobs: how many tokens and
    sequences share an iteration, and how much HBM the KV cache may take."""

    policy: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$", description=(
        "A batch-formation policy of `maiasim/engine/schedulers.py` (unknown names are refused "
        "before the run); omitted: the serving stack's. Built in: `vllm`: continuous batching, "
        "newest sequence preempted and recomputed; `max_utilization` (TensorRT-LLM): the same "
        "packing and pausing; `guaranteed_no_evict` (TensorRT-LLM's default): admits a request "
        "only if its whole prompt + output fits beside the others' reservations, never "
        "preempts."))
    max_batch_tokens: Int = Field(default=8192, ge=16, le=1 << 20, description=(
        "Token budget of one engine iteration (decode tokens + prefill chunk tokens). Without "
        "chunked prefill it also caps a prompt's length."))
    max_num_seqs: Int = Field(default=256, ge=1, le=1 << 16, description=(
        "Most sequences (prefilling + decoding) admitted in a replica at once."))
    chunked_prefill: bool | None = Field(default=None, description=(
        "Split prompts into chunks that share iterations with decodes (vLLM v1). When false, whole "
        "prompts run in prefill-only iterations that take priority (vLLM v0). Omitted: the "
        "serving stack's."))
    watermark: Float | None = Field(default=None, ge=0, lt=1, description=(
        "Fraction of the KV cache admission keeps free (vLLM v0: 0.01). Omitted: the serving "
        "stack's."))
    block_tokens: Int = Field(default=16, ge=1, le=1 << 16, description=(
        "Paged-KV block size in tokens; each sequence reserves one extra block of slack. "
        "At most 65,536."))
    hbm_utilization: Float | None = Field(default=None, gt=0, le=1, description=(
        "The serving engine's memory fraction, read as its stack reads it: of total device "
        "memory for weights + activations + KV cache (`vllm`: gpu_memory_utilization, 0.9), of "
        "the memory left after weights and activations for the KV cache (`trtllm`: "
        "kv_cache_free_gpu_mem_fraction, 0.9), of total memory for weights + KV cache "
        "(`sglang`: mem_fraction_static, derived from a reserve). Omitted: the stack's."))
    queue_timeout_s: Float | None = Field(default=None, gt=0, description=(
        "drop a request still queued this long after arrival (a client giving up)"))


class FrontEndConfig(ConfigModel):
    """The serving front end (HTTP server, tokeniser, detokeniser, hand-off to the engine): time
    it adds outside the engine's iterations."""

    request_s: Float | None = Field(default=None, ge=0, le=60, description=(
        "Seconds per request (HTTP, tokenisation, scheduling hand-off), added to TTFT and "
        "end-to-end latency. Omitted: the serving stack's."))
    token_s: Float | None = Field(default=None, ge=0, le=1, description=(
        "Seconds per output token (detokenisation, streaming), added to each token's delivery "
        "(TPOT and end-to-end latency). Omitted: the serving stack's."))


class DeploymentConfig(ConfigModel):
    """How the chips are cut into model replicas (tensor and pipeline parallelism) and how each
    replica schedules its requests."""

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
    stack: str = Field(default="vllm", description=(
        "The serving stack whose defaults the replica takes (`maiasim/catalog/stacks.yaml`): "
        "`vllm` (V1), `vllm-v0`, `trtllm`, `sglang`. It sets the scheduler policy, chunked "
        "prefill, memory semantics and reservations, default KV format and front-end time; "
        "settings given here override it."))
    scheduler: SchedulerConfig = Field(default=SchedulerConfig(), description=(
        "The replica's continuous-batching scheduler."))
    front_end: FrontEndConfig = Field(default=FrontEndConfig(), description=(
        "Time the serving front end adds to each request (defaults: the stack's)."))

    @field_validator("stack")
    @classmethod
    def _known_stack(cls, v: str) -> str:
        catalog.stack(v)
        return v


class RouterConfig(ConfigModel):
    """How arrivals are assigned to replicas; the policy names one of the engine's routers."""

    policy: str = Field(
        default="least_outstanding", pattern=r"^[a-z][a-z0-9_]*$", description=(
            "A routing policy of `maiasim/engine/routers/` (unknown names are refused before the "
            "run). Built in: `least_outstanding`: the replica with fewest unfinished requests "
            "(ties: lowest index); `round_robin`: in turn; `random`: uniform from the `router` "
            "random stream."))
