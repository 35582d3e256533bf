"""Accelerator specifications: the chip as data.

A chip is a frozen pydantic model so that catalog entries and inline scenario specs are validated by
the same code, with field paths in the errors. Nothing here knows about simulation time.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Precision = Literal["fp4", "fp8", "bf16"]

#: Bytes per element of each numeric format. FP4 ignores the MX block scales (1 byte per 32 values,
#: +3%), a deliberate simplification stated in docs/physics.md.
BYTES_PER_ELEMENT: dict[str, float] = {"fp4": 0.5, "fp8": 1.0, "bf16": 2.0}
PRECISION_ORDER = ("fp4", "fp8", "bf16")  # narrow to wide


def wider(a: str, b: str) -> str:
    """The wider of two formats: a GEMM runs at the precision of its wider operand."""
    return a if PRECISION_ORDER.index(a) >= PRECISION_ORDER.index(b) else b


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NetworkTier(_Frozen):
    """One tier of the scale-up network, innermost first.

    ``bandwidth_bytes_per_s`` is per chip per direction: what one chip can push into this tier (a
    ``full_mesh`` spreads it evenly over direct links to its ``chips - 1`` peers). ``chips`` is how
    many chips one domain of this tier spans (4 for a Maia 200 tray). ``pooled`` marks a switched tier
    whose ports belong to the same NIC as the tiers inside it and reach their peers too (Maia 200's
    Ethernet): collectives spread the inner tiers' traffic over its links as well, concurrently.
    """

    name: str
    chips: int = Field(ge=1)
    bandwidth_bytes_per_s: float = Field(gt=0)
    latency_s: float = Field(ge=0)
    oversubscription: float = Field(default=1.0, ge=1.0)
    topology: Literal["full_mesh", "switched", "torus"] = "switched"
    #: This switched tier's ports are more ports of the inner tiers' NIC and reach their peers too:
    #: collectives use the pooled links concurrently (Maia 200's Ethernet T0 tier).
    pooled: bool = False


class Price(_Frozen):
    chip_hour_usd: float | None = Field(default=None, ge=0)
    capex_usd: float | None = Field(default=None, ge=0)


class ChipSpec(_Frozen):
    """Peak figures of one accelerator. Sustained fractions live in its calibration, not here."""

    vendor: str = ""
    description: str = ""
    peak_tflops: dict[Precision, float]
    hbm_bytes: float = Field(gt=0)
    hbm_bandwidth_bytes_per_s: float = Field(gt=0)
    sram_bytes: float | None = None
    tdp_w: float | None = Field(default=None, gt=0)
    idle_power_fraction: float = Field(default=0.3, ge=0, le=1)
    chips_per_node: int = Field(default=8, ge=1)
    scale_up: tuple[NetworkTier, ...] = Field(min_length=1)
    price: Price = Price()
    sources: dict[str, str] = {}

    @model_validator(mode="after")
    def _check(self) -> ChipSpec:
        if not self.peak_tflops:
            raise ValueError("peak_tflops needs at least one precision (fp4, fp8, bf16)")
        sizes = [t.chips for t in self.scale_up]
        if sizes != sorted(sizes):
            raise ValueError(f"scale_up tiers must grow outward, got chips={sizes}")
        for i, t in enumerate(self.scale_up):
            if t.pooled and (i == 0 or t.topology != "switched"):
                raise ValueError(f"scale_up.{i}.pooled: only a switched tier outside another tier can pool "
                                 f"its ports with the inner tiers (got {t.topology} tier {i})")
        return self

    def peak_flops(self, precision: str) -> float:
        """Dense peak FLOP/s at ``precision``; raises if the chip has no such tensor format."""
        try:
            return self.peak_tflops[precision] * 1e12  # type: ignore[index]
        except KeyError:
            have = ", ".join(sorted(self.peak_tflops))
            raise ValueError(f"chip does not support {precision} (supported: {have})") from None

    @property
    def power_w(self) -> float:
        """Board power used for energy; a chip without a published TDP cannot be costed in joules."""
        return float(self.tdp_w) if self.tdp_w is not None else float("nan")
