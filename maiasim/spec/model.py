"""Transformer shapes: parameter counts, weight bytes and KV-cache bytes, derived from a model
config.

The numbers come from the published Hugging Face configs (catalog/models.yaml). Dense,
grouped-query, mixture-of-experts, multi-head latent attention (DeepSeek) and sliding-window layers
(gpt-oss) are described by the same frozen spec; everything else is derived arithmetic.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field, model_validator

from .hardware import Int, Spec

#: Bounds on a model's shape: many times the largest published configs (DeepSeek-V3: 61 layers,
#: 7168 wide, 256 experts). A whole model may have at most MAX_PARAMS parameters.
MAX_LAYERS = 4096
MAX_WIDTH = 1 << 20  # hidden size, FFN sizes, head and latent dimensions
MAX_HEADS = 1 << 16  # heads, KV heads, experts
MAX_TOKENS = 1 << 24  # context and window lengths, vocabulary
MAX_PARAMS = 1e15  # 500x today's largest models; beyond is a mistake in the shape


def _dim(default: int | None = None, lo: int = 1, hi: int = MAX_WIDTH, what: str = "") -> Any:
    """A bounded integer field of the model shape."""
    kw = {} if default is None else {"default": default}
    return Field(ge=lo, le=hi, description=f"{what} At most {hi:,}." if what else None, **kw)


class ModelSpec(Spec):
    """A transformer's shape (from its Hugging Face config): what sizes weights, FLOPs and KV."""

    hf_id: str = ""
    layers: Int = _dim(hi=MAX_LAYERS, what="Transformer layers.")
    hidden_size: Int = _dim(what="Model width.")
    heads: Int = _dim(hi=MAX_HEADS, what=(
        "Attention (query) heads; `deployment.tensor_parallel` must divide them."))
    kv_heads: Int = _dim(hi=MAX_HEADS, what=(
        "Key/value heads (grouped-query attention); heads must be a multiple. "
        "`deployment.tensor_parallel` must divide them or be a multiple of them (replicated KV "
        "heads)."))
    head_dim: Int = _dim(what="Dimension of one attention head.")
    ffn_size: Int = _dim(what="Dense MLP intermediate size.")
    vocab_size: Int = _dim(hi=MAX_TOKENS, what="Vocabulary size (embedding and LM head).")
    max_context: Int = _dim(131072, hi=MAX_TOKENS, what=(
        "Longest prompt + output; longer requests are rejected (`exceeds_max_context`)."))
    gated_mlp: bool = True
    tied_embeddings: bool = False
    experts: Int = _dim(0, 0, MAX_HEADS, "Routed experts per MoE layer (0 = dense model).")
    active_experts: Int = _dim(0, 0, MAX_HEADS, "Experts each token is routed to (top-k).")
    expert_ffn_size: Int = _dim(0, 0, what="Intermediate size of one expert.")
    shared_experts: Int = _dim(0, 0, MAX_HEADS, "Always-active experts per MoE layer.")
    dense_layers: Int = _dim(0, 0, MAX_LAYERS, "Leading layers with a dense MLP in a MoE model.")
    kv_lora_rank: Int = _dim(0, 0, what=(
        "MLA latent rank (DeepSeek); > 0 turns on multi-head latent attention."))
    q_lora_rank: Int = _dim(0, 0, what=(
        "MLA query low-rank dimension (0 = full-rank query projection)."))
    qk_rope_head_dim: Int = _dim(0, 0, what="MLA rotary part of each query/key head.")
    qk_nope_head_dim: Int = _dim(0, 0, what="MLA non-rotary part of each query/key head.")
    v_head_dim: Int = _dim(0, 0, what="MLA value head dimension.")
    sliding_window: Int = _dim(0, 0, MAX_TOKENS, "Window (tokens) of sliding-window attention.")
    sliding_window_layers: Int = _dim(0, 0, MAX_LAYERS, "Layers that use sliding-window attention.")
    source: str = ""

    @model_validator(mode="after")
    def _check(self) -> ModelSpec:
        if self.heads % self.kv_heads:
            raise ValueError(f"heads ({self.heads}) must be a multiple of kv_heads "
                             f"({self.kv_heads})")
        if self.experts and not (1 <= self.active_experts <= self.experts and self.expert_ffn_size):
            raise ValueError("a MoE model needs 1 <= active_experts <= experts and "
                             "expert_ffn_size > 0")
        if self.dense_layers > self.layers or self.sliding_window_layers > self.layers:
            raise ValueError("dense_layers and sliding_window_layers cannot exceed layers")
        if self.sliding_window_layers and not self.sliding_window:
            raise ValueError("sliding_window_layers needs sliding_window > 0")
        if self.params > MAX_PARAMS:
            raise ValueError(f"the shape gives {self.params:.3g} parameters, more than "
                             f"{MAX_PARAMS:.0e} (check layers, hidden_size, ffn_size and experts)")
        return self

    # ---- structure -------------------------------------------------------------------------
    @property
    def is_moe(self) -> bool:
        """Mixture-of-experts: some layers route each token to a few of many expert MLPs."""
        return self.experts > 0

    @property
    def is_mla(self) -> bool:
        """Multi-head latent attention (DeepSeek): the KV cache holds one compressed latent."""
        return self.kv_lora_rank > 0

    @property
    def moe_layers(self) -> int:
        """Layers with routed experts (the rest, ``dense_layers``, keep a dense MLP)."""
        return self.layers - self.dense_layers if self.is_moe else 0

    @property
    def full_attention_layers(self) -> int:
        """Layers attending over the whole context, whose KV cache grows with it."""
        return self.layers - self.sliding_window_layers

    @property
    def q_dim(self) -> int:
        """Width of the query projection (all heads)."""
        return self.heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        """Width of the key (or value) projection (all KV heads)."""
        return self.kv_heads * self.head_dim

    @property
    def mlp_matrices(self) -> int:
        """Weight matrices per MLP: gate, up and down when gated, else up and down."""
        return 3 if self.gated_mlp else 2

    # ---- parameters ------------------------------------------------------------------------
    @property
    def attention_params_per_layer(self) -> int:
        """Attention projection weights of one layer (Q, K, V and output; MLA's low-rank form)."""
        h = self.hidden_size
        if self.is_mla:
            qk = self.qk_nope_head_dim + self.qk_rope_head_dim
            q = (h * self.q_lora_rank + self.q_lora_rank * self.heads * qk if self.q_lora_rank
                 else h * self.heads * qk)
            kv = h * (self.kv_lora_rank + self.qk_rope_head_dim)
            kv += self.kv_lora_rank * self.heads * (self.qk_nope_head_dim + self.v_head_dim)
            return q + kv + self.heads * self.v_head_dim * h
        return h * (self.q_dim + 2 * self.kv_dim) + self.q_dim * h

    @property
    def dense_mlp_params(self) -> int:
        """Weights of one dense layer's MLP."""
        return self.mlp_matrices * self.hidden_size * self.ffn_size

    @property
    def expert_params(self) -> int:
        """Parameters of one routed (or shared) expert."""
        return self.mlp_matrices * self.hidden_size * self.expert_ffn_size

    @property
    def moe_params_per_layer(self) -> int:
        """Weights of one MoE layer: the router plus every routed and shared expert."""
        router = self.hidden_size * self.experts
        return router + (self.experts + self.shared_experts) * self.expert_params

    @property
    def embedding_params(self) -> int:
        """Token embedding plus LM head (one matrix when they are tied)."""
        return self.vocab_size * self.hidden_size * (1 if self.tied_embeddings else 2)

    @property
    def params(self) -> int:
        """Total parameter count (all experts), which sets the weight memory."""
        dense = self.layers - self.moe_layers
        return (
            self.layers * self.attention_params_per_layer
            + dense * self.dense_mlp_params
            + self.moe_layers * self.moe_params_per_layer
            + self.embedding_params
        )

    @property
    def active_params(self) -> int:
        """Parameters touched per token (active experts only), which sets FLOPs per token."""
        if not self.is_moe:
            return self.params
        active_moe = (self.hidden_size * self.experts
                      + (self.active_experts + self.shared_experts) * self.expert_params)
        return self.params - self.moe_layers * (self.moe_params_per_layer - active_moe)

    # ---- KV cache --------------------------------------------------------------------------
    def kv_elements_per_token_per_layer(self, tensor_parallel: int = 1) -> int:
        """K and V elements one chip stores per token in one layer: its share of the KV heads (a
        head is replicated when there are fewer KV heads than chips); MLA stores one compressed
        latent that every chip keeps whole."""
        if self.is_mla:
            return self.kv_lora_rank + self.qk_rope_head_dim
        return 2 * math.ceil(self.kv_heads / tensor_parallel) * self.head_dim

    @property
    def attention_flops_per_pair(self) -> int:
        """FLOPs per (query token, context token) pair in one layer: QK^T plus PV.

        MLA is counted in its weight-absorbed form (scores over the latent plus rope part, values
        over the latent), which is how serving engines run it."""
        if self.is_mla:
            return 2 * self.heads * (2 * self.kv_lora_rank + self.qk_rope_head_dim)
        return 4 * self.heads * self.head_dim
