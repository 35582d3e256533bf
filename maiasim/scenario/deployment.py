"""The fleet a scenario describes: chip, numeric formats, how chips form replicas, routing.

These are settings, named ``...Config`` so that they are never mistaken for the runtime objects
they configure (the engine's router and scheduler, the physics' precisions).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, field_serializer, field_validator, model_validator

from .. import catalog
from ..spec.hardware import MAX_CHIPS, ChipSpec, Float, Int, Precision
from ..spec.model import ModelSpec
from .fields import ConfigModel, FrozenDict, freeze, thaw
from .limits import MAX_REPLICAS

__all__ = [
    "DeploymentConfig", "FrontEndConfig", "HardwareConfig", "KVOffloadConfig", "PrecisionConfig",
    "RouterConfig", "SchedulerConfig", "SpeculativeConfig", "check_expert_parallel",
]


class HardwareConfig(ConfigModel):
    """Which chip the fleet is built from and how many; what-if changes to the chip's figures and
    to its calibration are given here rather than by editing the catalog."""

    chip: str | ChipSpec = Field(default="maia200", description=(
        "A catalog chip name (`maiasim catalog chips`) or an inline chip spec (see *Inline chip "
        "spec*)."))
    chips: Int | None = Field(default=None, ge=1, le=MAX_CHIPS, description=(
        "Total chips; must equal replicas x chips per replica (tensor_parallel x "
        "pipeline_parallel, or max(tensor_parallel, expert_parallel) x pipeline_parallel) when "
        "both are given. At most 10,000,000 (with the parallelism, also the limit on the "
        "resolved fleet)."))
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
    prefix_caching: bool | None = Field(default=None, description=(
        "Automatic prefix caching (vLLM's automatic prefix caching, SGLang's radix cache, "
        "TensorRT-LLM's KV block reuse): full KV blocks of a workload's shared `prefix` or "
        "conversation `session` stay cached after use, a request that finds them cached skips "
        "that prefill and shares those blocks, and unused cached blocks are evicted least "
        "recently used when KV is needed. Only workloads with a `prefix` or `session` are "
        "affected. Omitted: the stack's default (on for vllm, trtllm and sglang; off for "
        "vllm-v0)."))


class SpeculativeConfig(ConfigModel):
    """Speculative decoding: a cheap proposer drafts ``num_speculative_tokens`` tokens per
    sequence and the target model verifies them in one step (Leviathan et al., 2023)."""

    method: Literal["draft", "mtp"] = Field(description=(
        "`draft`: a separate small draft model (`draft_model`) proposes, k decode steps of its "
        "own per verification; `mtp`: the target's multi-token-prediction module proposes (one "
        "extra decoder layer per draft token, DeepSeek-V3 style)."))
    draft_model: str | None = Field(default=None, description=(
        "`method: draft` only: a catalog model (`maiasim catalog models`) run on the same chips "
        "and parallelism as the target; its weights take HBM from the KV cache."))
    num_speculative_tokens: Int = Field(ge=1, le=16, description=(
        "Draft tokens k proposed and verified per sequence per step; 1 to 16."))
    acceptance_rate: Float = Field(ge=0, lt=1, description=(
        "Probability a that each draft token is accepted (i.i.d., as in Leviathan et al.); a "
        "step emits on average (1 - a^(k+1)) / (1 - a) tokens per sequence. 0 <= a < 1."))

    @model_validator(mode="after")
    def _draft_model(self):
        if self.method == "draft" and self.draft_model is None:
            raise ValueError("speculative.draft_model is required when method is draft")
        if self.method == "mtp" and self.draft_model is not None:
            raise ValueError("speculative.draft_model is only for method draft (mtp drafts with "
                             "the target's own MTP layer)")
        if self.draft_model is not None:
            catalog.model(self.draft_model)
        return self

    @property
    def tokens_per_step(self) -> float:
        """Expected tokens emitted per sequence per verification step, (1 - a^(k+1)) / (1 - a)."""
        a, k = self.acceptance_rate, self.num_speculative_tokens
        return (1.0 - a ** (k + 1)) / (1.0 - a)


class FrontEndConfig(ConfigModel):
    """The serving front end (HTTP server, tokeniser, detokeniser, hand-off to the engine): time
    it adds outside the engine's iterations."""

    request_s: Float | None = Field(default=None, ge=0, le=60, description=(
        "Seconds per request (HTTP, tokenisation, scheduling hand-off), added to TTFT and "
        "end-to-end latency. Omitted: the serving stack's."))
    token_s: Float | None = Field(default=None, ge=0, le=1, description=(
        "Seconds per output token (detokenisation, streaming), added to each token's delivery "
        "(TPOT and end-to-end latency). Omitted: the serving stack's."))


class KVOffloadConfig(ConfigModel):
    """A second tier for the KV cache in the host's memory (vLLM's CPU swap space, LMCache): a
    preempted decoding sequence is swapped out over the host link and back in when readmitted,
    instead of being recomputed."""

    capacity_gib: Float = Field(default=0.0, ge=0, le=1 << 20, description=(
        "Host memory for swapped KV per replica, GiB (vLLM's swap_space is per GPU: multiply by "
        "the replica's chips). 0: off (preempted sequences are recomputed)."))
    bandwidth_bytes_per_s: Float | None = Field(default=None, gt=0, le=1e15, description=(
        "Per chip and direction; default the chip's `host_link_bytes_per_s` (PCIe or "
        "NVLink-C2C, sourced in the catalog)."))


class DeploymentConfig(ConfigModel):
    """How the chips are cut into model replicas (tensor, pipeline and expert parallelism) and how
    each replica schedules its requests."""

    tensor_parallel: Int = Field(default=1, ge=1, le=1 << 16, description=(
        "Chips per pipeline stage that split every layer (tensor parallelism). Must divide the "
        "model's attention heads, divide its KV heads or be a multiple of them (KV heads are then "
        "replicated), and fit the chip's largest scale-up domain."))
    pipeline_parallel: Int = Field(default=1, ge=1, le=4096, description=(
        "Pipeline stages per replica (layers split across stages, no micro-batch overlap); at most "
        "the model's layers."))
    expert_parallel: Int = Field(default=1, ge=1, le=1 << 16, description=(
        "MoE models only: expert-parallel ranks per pipeline stage that hold the routed experts "
        "(each rank E / expert_parallel of them), with an all-to-all dispatch and combine of the "
        "routed tokens per MoE layer. Must divide the model's experts and either divide "
        "tensor_parallel (EP inside the tensor group: each rank is tensor_parallel / "
        "expert_parallel chips that split its experts, as TensorRT-LLM's moe_tp x moe_ep) or be "
        "a multiple of it (attention data-parallel over expert_parallel / tensor_parallel groups "
        "of tensor_parallel chips, as vLLM's EP = TP x DP). A stage is max(tensor_parallel, "
        "expert_parallel) chips and must fit the chip's largest scale-up domain. 1 = experts "
        "tensor-split like dense layers."))
    expert_imbalance: Float = Field(default=1.0, ge=1.0, le=1 << 16, description=(
        "MoE expert-parallel load skew: tokens routed to the most loaded EP rank over the mean "
        "(1.0 = uniform routing). The MoE part of every step (expert GEMMs, weight reads, "
        "all-to-all) waits for that rank. At most expert_parallel (all load on one rank); no "
        "effect at expert_parallel 1."))
    replicas: Int | None = Field(default=None, ge=1, le=MAX_REPLICAS, description=(
        "Number of model replicas. Optional when `hardware.chips` is given (then chips / "
        "chips per replica, see `hardware.chips`). At most 1,000,000: the engine keeps state and "
        "preallocates records per replica."))
    stack: str = Field(default="vllm", description=(
        "The serving stack whose defaults the replica takes (`maiasim/catalog/stacks.yaml`): "
        "`vllm` (V1), `vllm-v0`, `trtllm`, `sglang`. It sets the scheduler policy, chunked "
        "prefill, prefix caching, memory semantics and reservations, default KV format and "
        "front-end time; "
        "settings given here override it."))
    scheduler: SchedulerConfig = Field(default=SchedulerConfig(), description=(
        "The replica's continuous-batching scheduler."))
    kv_offload: KVOffloadConfig = Field(default=KVOffloadConfig(), description=(
        "KV cache swapped to host memory on preemption instead of recomputed."))
    speculative: SpeculativeConfig | None = Field(default=None, description=(
        "Speculative decoding (the `speculative` keys below); off by default."))
    front_end: FrontEndConfig = Field(default=FrontEndConfig(), description=(
        "Time the serving front end adds to each request (defaults: the stack's)."))

    @field_validator("stack")
    @classmethod
    def _known_stack(cls, v: str) -> str:
        catalog.stack(v)
        return v

    @model_validator(mode="after")
    def _imbalance_within_ranks(self):
        ep = self.expert_parallel
        if ep > 1 and self.expert_imbalance > ep:
            raise ValueError(f"deployment.expert_imbalance: {self.expert_imbalance:g} exceeds "
                             f"expert_parallel={ep}: the most loaded of {ep} ranks carries at "
                             f"most {ep} x the mean load (allowed: 1.0 to {ep})")
        return self

    @property
    def chips_per_replica(self) -> int:
        """Chips in one replica: ``max(tensor_parallel, expert_parallel) x pipeline_parallel``
        (``tensor_parallel x pipeline_parallel`` without expert parallelism)."""
        return max(self.tensor_parallel, self.expert_parallel) * self.pipeline_parallel


def check_expert_parallel(d: DeploymentConfig, chip: ChipSpec, model: ModelSpec, chip_name: str,
                          model_name: str) -> None:
    """A clear error for expert parallelism the model or the chip's network cannot support."""
    ep, tp = d.expert_parallel, d.tensor_parallel
    if ep == 1:
        return
    domain = chip.scale_up[-1].chips
    if not model.is_moe:
        why = f"needs a mixture-of-experts model, and {model_name} is dense (allowed: 1)"
    elif model.experts % ep:
        ok = [e for e in range(1, model.experts + 1) if model.experts % e == 0
              and (tp % e == 0 or e % tp == 0) and max(tp, e) <= domain]
        why = (f"does not divide {model_name}'s {model.experts} experts (allowed with "
               f"tensor_parallel={tp}: {', '.join(map(str, ok))})")
    elif tp % ep and ep % tp:
        why = (f"neither divides tensor_parallel={tp} nor is a multiple of it (EP ranks are "
               f"either slices of the tensor group or whole attention data-parallel groups)")
    elif max(tp, ep) > domain:
        why = (f"exceeds {chip_name}'s largest scale-up domain ({domain} chips): the "
               f"all-to-all of a stage's {max(tp, ep)} chips must run inside one")
    else:
        return
    raise ValueError(f"deployment.expert_parallel: {ep} {why}")


class RouterConfig(ConfigModel):
    """How arrivals are assigned to replicas; the policy names one of the engine's routers."""

    policy: str = Field(
        default="least_outstanding", pattern=r"^[a-z][a-z0-9_]*$", description=(
            "A routing policy of `maiasim/engine/routers/` (unknown names are refused before the "
            "run). Built in: `least_outstanding`: the replica with fewest unfinished requests "
            "(ties: lowest index); `round_robin`: in turn; `random`: uniform from the `router` "
            "random stream; `prefix_affinity`: a workload prefix group's requests to one home "
            "replica (least outstanding otherwise, and when the home is overloaded)."))
