"""The per-chip HBM budget of a replica: weights, activations, and what is left for the KV cache.

Sized from the memory the device reports (``ChipSpec.memory_bytes``), as a serving engine does, and
with the engine's own reading of its memory fraction (:data:`MEMORY_SEMANTICS`):

- ``total`` (vLLM ``gpu_memory_utilization``): weights, activations and KV cache together take
  ``fraction`` of the device; CUDA graphs live in the rest.
- ``free`` (TensorRT-LLM ``kv_cache_free_gpu_mem_fraction``): the KV cache takes ``fraction`` of
  what is left after weights, activations and CUDA graphs.
- ``static`` (SGLang ``mem_fraction_static``): weights and KV pool take ``fraction`` of the
  device; activations and CUDA graphs live in the rest.

In every case the KV cache never takes more than the device has left after the others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from ..errors import DoesNotFit
from ..spec.hardware import BYTES_PER_ELEMENT, ChipSpec
from ..spec.model import ModelSpec
from .precision import Parallelism, Precisions

#: how an engine reads its memory fraction (see the module docstring)
MemorySemantics = Literal["total", "free", "static"]
MEMORY_SEMANTICS: tuple[str, ...] = ("total", "free", "static")


@dataclass(frozen=True)
class MemoryPlan:
    """Per-chip HBM budget of one replica."""

    hbm_usable_bytes: float  # what the engine's fraction allows it (weights included)
    weights_bytes: float
    activation_bytes: float
    kv_bytes: float
    kv_bytes_per_token: float  # per chip, all this chip's layers
    kv_capacity_tokens: int  # per replica
    per_sequence_tokens: int  # fixed KV reservation per sequence (block slack, sliding windows)
    device_bytes: float = 0.0  # memory the device reports
    cuda_graph_bytes: float = 0.0  # CUDA-graph (and runtime) reservation per chip
    semantics: str = "total"
    memory_fraction: float = 0.9


def plan_memory(
    chip: ChipSpec,
    model: ModelSpec,
    precision: Precisions,
    parallel: Parallelism,
    *,
    max_batch_tokens: int,
    max_num_seqs: int,
    hbm_utilization: float = 0.9,
    block_tokens: int = 16,
    semantics: str = "total",
    cuda_graph_bytes: float = 0.0,
    activation_factor: float = 1.0,
) -> MemoryPlan:
    """Weights + activations + KV cache per chip; raises :class:`DoesNotFit` saying by how much.

    ``hbm_utilization`` is the engine's memory fraction, read as ``semantics`` says;
    ``cuda_graph_bytes`` is reserved per chip outside the KV cache; ``activation_factor`` scales
    the activation estimate (an engine's profiling run peaks higher or lower)."""
    if semantics not in MEMORY_SEMANTICS:
        raise ValueError(f"memory semantics {semantics!r} (allowed: {MEMORY_SEMANTICS})")
    tp, pp = parallel.tensor, parallel.pipeline
    if model.layers < pp:
        raise DoesNotFit(f"pipeline_parallel={pp} exceeds the model's {model.layers} layers")
    device = chip.memory_bytes
    usable = device * hbm_utilization
    weights = _weights_per_chip(model, precision, parallel)
    ab = 2.0  # activations are held in BF16 between kernels
    h, ffn = model.hidden_size, max(model.ffn_size,
                                    model.expert_ffn_size * max(1, model.active_experts))
    dp = parallel.attention_dp  # each attention group holds its share of the batch
    activation = activation_factor * (max_batch_tokens / dp * (4 * h + 2 * ffn / tp) * ab
                                      + max_num_seqs / dp * model.vocab_size / tp * 4)
    per_layer = model.kv_elements_per_token_per_layer(tp)
    kvb = BYTES_PER_ELEMENT[precision.kv_cache]
    layers_local = math.ceil(model.full_attention_layers / pp)
    kv_per_token = max(layers_local, 1) * per_layer * kvb
    sw_tokens = 0
    if model.sliding_window_layers:
        sw_local = math.ceil(model.sliding_window_layers / pp)
        sw_tokens = math.ceil(model.sliding_window * sw_local / max(layers_local, 1))
    rest = device - weights - activation - cuda_graph_bytes  # all the device has left
    if semantics == "total":
        free = min(usable - weights - activation, rest)
    elif semantics == "static":
        free = min(usable - weights, rest)
    else:  # "free": a fraction of what is left after weights and activations
        free, usable = hbm_utilization * rest, device
    if free <= 0:
        room = free + weights if semantics != "free" else rest + weights  # weight room per chip
        need_tp = (math.ceil(model.params * BYTES_PER_ELEMENT[precision.weights] / pp / room)
                   if room > 0 else None)
        hint = f"; try tensor_parallel >= {need_tp}" if need_tp else ""
        if parallel.expert > 1:
            hint = "; try more expert_parallel ranks or pipeline_parallel stages"
        raise DoesNotFit(
            f"{model.hf_id or 'model'} does not fit: per chip it needs {weights / 1e9:.1f} GB of "
            f"{precision.weights} weights + {activation / 1e9:.1f} GB of activations + "
            f"{cuda_graph_bytes / 1e9:.1f} GB of CUDA graphs, but the chip has "
            f"{usable / 1e9:.1f} GB usable ({device / 1e9:.1f} GB reported x "
            f"{hbm_utilization}, {semantics} semantics); short by {-free / 1e9:.1f} GB at "
            f"tensor_parallel={tp}, pipeline_parallel={pp}"
            + (f", expert_parallel={parallel.expert}" if parallel.expert > 1 else "") + hint
        )
    # each attention data-parallel group caches its own sequences' KV
    capacity = int(free // kv_per_token) * dp
    return MemoryPlan(usable, weights, activation, free, kv_per_token, capacity,
                      block_tokens + sw_tokens, device, cuda_graph_bytes, semantics,
                      hbm_utilization)


def _weights_per_chip(model: ModelSpec, precision: Precisions, parallel: Parallelism) -> float:
    """Weight bytes per chip. Without expert parallelism every weight is split ``tp x pp`` ways.
    With it, a stage's routed experts are spread over its ``ep`` ranks (each split over the rank's
    ``expert_tensor`` chips), shared experts are held by every EP rank (split the same way), and
    the rest (attention, dense MLPs, router, embeddings) is split over the tensor group and
    replicated in each attention data-parallel group."""
    wb = BYTES_PER_ELEMENT[precision.weights]
    tp, pp, ep = parallel.tensor, parallel.pipeline, parallel.expert
    if ep == 1:
        return model.params * wb / (tp * pp)
    routed = model.moe_layers * model.experts * model.expert_params
    shared = model.moe_layers * model.shared_experts * model.expert_params
    rest = model.params - routed - shared
    return (rest / tp + routed / (ep * parallel.expert_tensor)
            + shared / parallel.expert_tensor) * wb / pp
