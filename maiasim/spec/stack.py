"""Serving-stack profiles: what a serving engine (vLLM, TensorRT-LLM, SGLang) decides for a
replica, as data.

Two engines on the same chip and model differ in how they form batches (scheduler policy), how
they read their memory fraction, which KV-cache format they default to, what they reserve beside
the KV cache, and what their front end adds to every request. A profile holds those defaults, each
with a source (``sources``); a scenario's explicit settings override them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .hardware import Float, Precision, Spec

#: how a stack picks the KV-cache format: ``model`` = the model's own dtype (BF16: vLLM and SGLang
#: ``--kv-cache-dtype auto``); ``checkpoint`` = FP8 when the weights are quantized (FP8/FP4), else
#: BF16 (TensorRT-LLM ``auto`` with a ModelOpt checkpoint that quantizes the KV cache); or a format
KvDefault = Literal["model", "checkpoint", "fp4", "fp8", "bf16"]


class ReserveTier(Spec):
    """Memory a stack keeps outside its static pool on chips below ``below_gib`` GiB (SGLang sizes
    ``mem_fraction_static`` this way): ``gib + per_rank_gib x (tensor x pipeline ranks)``."""

    below_gib: Float | None = Field(default=None, gt=0, description=(
        "Applies to chips reporting less than this (GiB); omitted: every larger chip."))
    gib: Float = Field(ge=0, le=1024)
    per_rank_gib: Float = Field(default=0.0, ge=0, le=64)


class StackSpec(Spec):
    """One serving stack's defaults (see :mod:`maiasim.spec.stack`)."""

    description: str = ""
    version: str = Field(default="", description="Engine version the defaults were read from.")
    scheduler: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description=(
        "Scheduler policy of `maiasim/engine/` the stack uses by default."))
    chunked_prefill: bool = Field(description="Chunked prefill on by default.")
    prefix_caching: bool = Field(default=True, description=(
        "Automatic prefix caching (KV block reuse across requests) on by default."))
    watermark: Float = Field(default=0.0, ge=0, lt=1, description=(
        "Fraction of the KV cache admission keeps free (vLLM v0's block-manager watermark)."))
    memory_semantics: Literal["total", "free", "static"] = Field(description=(
        "How the memory fraction is read: `total` (vLLM gpu_memory_utilization: weights + "
        "activations + KV within the fraction of device memory), `free` (TensorRT-LLM "
        "kv_cache_free_gpu_mem_fraction: KV = fraction of what is left after weights and "
        "activations), `static` (SGLang mem_fraction_static: weights + KV within the fraction)."))
    memory_fraction: Float | None = Field(default=None, gt=0, le=1, description=(
        "The default fraction; omitted: derived from `memory_reserve`."))
    memory_reserve: tuple[ReserveTier, ...] = Field(default=(), max_length=16, description=(
        "Tiers of memory kept outside the static pool, by chip size (first match), from which the "
        "fraction is derived when `memory_fraction` is omitted."))
    cuda_graph_gib: Float = Field(default=0.0, ge=0, le=1024, description=(
        "CUDA-graph (and runtime) memory per chip kept outside the KV cache (GiB)."))
    activation_factor: Float = Field(default=1.0, gt=0, le=100, description=(
        "Scales maiasim's activation estimate (the stack's profiling run peaks higher or lower)."))
    kv_cache: KvDefault = Field(description="Default KV-cache format (see `KvDefault`).")
    step_overhead_s: Float | None = Field(default=None, ge=0, le=1, description=(
        "Fixed host time per iteration; omitted: the chip calibration's `iteration_overhead_s`."))
    front_end_request_s: Float = Field(default=0.0, ge=0, le=60, description=(
        "Front-end time per request (HTTP, tokenisation, hand-off to the engine), added to TTFT."))
    front_end_token_s: Float = Field(default=0.0, ge=0, le=1, description=(
        "Front-end time per output token (detokenisation, streaming), added to each token's "
        "delivery."))
    sources: dict[str, str] = {}

    @model_validator(mode="after")
    def _fraction_given(self) -> StackSpec:
        if self.memory_fraction is None and not self.memory_reserve:
            raise ValueError("give memory_fraction or memory_reserve")
        return self

    def fraction_for(self, device_bytes: float, ranks: int) -> float:
        """The memory fraction on a chip reporting ``device_bytes``, for a replica of ``ranks``
        chips: the profile's figure, else derived from the first reserve tier that applies."""
        if self.memory_fraction is not None:
            return self.memory_fraction
        gib = device_bytes / 2**30
        for t in self.memory_reserve:
            if t.below_gib is None or gib < t.below_gib:
                reserve = t.gib + t.per_rank_gib * ranks
                return max(0.05, min(1.0, round((gib - reserve) / gib, 3)))
        return 0.9  # no tier applies (the last tier should have no bound)

    def kv_format(self, weights: Precision) -> Precision:
        """The KV-cache format this stack picks for a model whose weights are ``weights``."""
        if self.kv_cache == "model":
            return "bf16"
        if self.kv_cache == "checkpoint":
            return "fp8" if weights in ("fp8", "fp4") else "bf16"
        return self.kv_cache
