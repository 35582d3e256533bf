"""How a replica's numbers and work are laid out: precisions per operand, and the parallel group."""

from __future__ import annotations

from dataclasses import dataclass

from ..spec.hardware import BYTES_PER_ELEMENT, wider


@dataclass(frozen=True)
class Precisions:
    weights: str = "fp8"
    activations: str = "fp8"
    kv_cache: str = "fp8"

    @property
    def gemm(self) -> str:
        """A GEMM runs at the wider of its operands (W4A8 runs at FP8)."""
        return wider(self.weights, self.activations)

    @property
    def attention(self) -> str:
        return wider(self.activations, self.kv_cache)

    @property
    def comm_bytes(self) -> float:
        """Bytes per activation element on the wire: collectives run in BF16 unless activations are narrower."""
        return min(2.0, BYTES_PER_ELEMENT[self.activations]) if self.activations != "fp4" else 1.0


@dataclass(frozen=True)
class Parallelism:
    tensor: int = 1
    pipeline: int = 1

    @property
    def chips(self) -> int:
        return self.tensor * self.pipeline
