"""How a replica's numbers and work are laid out: precisions per operand, and the parallel group."""

from __future__ import annotations

from dataclasses import dataclass

from ..spec.hardware import BYTES_PER_ELEMENT, wider


@dataclass(frozen=True)
class Precisions:
    """The number format of each operand: weights, activations and the KV cache, and of the
    collectives' payload (serving stacks all-reduce in BF16 even when GEMMs run in FP8)."""

    weights: str = "fp8"
    activations: str = "fp8"
    kv_cache: str = "fp8"
    communication: str = "bf16"

    @property
    def gemm(self) -> str:
        """A GEMM runs at the wider of its operands (W4A8 runs at FP8)."""
        return wider(self.weights, self.activations)

    @property
    def attention(self) -> str:
        """Attention multiplies activations by cached K/V, so it runs at the wider of the two."""
        return wider(self.activations, self.kv_cache)

    @property
    def comm_bytes(self) -> float:
        """Bytes per activation element on the wire (tensor-parallel all-reduce, pipeline sends):
        the communication format's, whatever the activations' (vLLM and TensorRT-LLM reduce the
        BF16 output of an FP8 GEMM)."""
        return BYTES_PER_ELEMENT[self.communication]


@dataclass(frozen=True)
class Parallelism:
    """How one replica is split over chips: tensor-parallel degree x pipeline stages, and the
    expert-parallel ranks its MoE layers are spread over.

    Expert parallelism composes as in vLLM (EP = TP x DP) and TensorRT-LLM (moe_tp x moe_ep = tp):
    ``expert <= tensor`` spreads the experts over the tensor group itself (each EP rank is
    ``tensor / expert`` chips that split its experts), and ``expert > tensor`` makes attention
    data-parallel over ``expert / tensor`` groups of ``tensor`` chips. A stage is
    ``max(tensor, expert)`` chips, a replica ``pipeline`` such stages."""

    tensor: int = 1
    pipeline: int = 1
    expert: int = 1
    #: load of the most loaded EP rank over the mean (1.0 = uniform routing); the MoE part of a
    #: step waits for that rank. No effect at ``expert = 1``.
    expert_imbalance: float = 1.0

    @property
    def attention_dp(self) -> int:
        """Attention data-parallel groups per stage (each ``tensor`` chips, its own sequences)."""
        return max(1, self.expert // self.tensor)

    @property
    def expert_tensor(self) -> int:
        """Chips of one expert-parallel rank, which tensor-split that rank's experts."""
        return max(1, self.tensor // self.expert)

    @property
    def stage_chips(self) -> int:
        """Chips per pipeline stage: the attention groups, which are also the EP ranks."""
        return max(self.tensor, self.expert)

    @property
    def chips(self) -> int:
        """Chips in one replica: ``max(tensor, expert) x pipeline``."""
        return self.stage_chips * self.pipeline
