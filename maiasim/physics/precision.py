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
    """How one replica is split over chips: tensor-parallel degree x pipeline stages."""

    tensor: int = 1
    pipeline: int = 1

    @property
    def chips(self) -> int:
        """Chips in one replica (the tensor x pipeline group)."""
        return self.tensor * self.pipeline
