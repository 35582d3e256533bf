"""Accelerator specifications: the chip as data.

A chip is a frozen pydantic model so that catalog entries and inline scenario specs are validated by
the same code, with field paths in the errors. Nothing here knows about simulation time.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

Precision = Literal["fp4", "fp8", "bf16"]

#: Bytes per element of each numeric format. FP4 ignores the MX block scales (1 byte per 32 values,
#: +3%), a deliberate simplification stated in docs/physics.md.
BYTES_PER_ELEMENT: dict[str, float] = {"fp4": 0.5, "fp8": 1.0, "bf16": 2.0}
PRECISION_ORDER = ("fp4", "fp8", "bf16")  # narrow to wide


def wider(a: str, b: str) -> str:
    """The wider of two formats: a GEMM runs at the precision of its wider operand."""
    return a if PRECISION_ORDER.index(a) >= PRECISION_ORDER.index(b) else b


def not_text(v: Any) -> Any:
    """Refuse a boolean or a string where a number goes: pydantic would read YAML ``true`` as 1 and
    ``"5"`` as 5, which hides a mistake in the file."""
    if isinstance(v, bool):
        raise ValueError("a number is required, not a boolean")
    if isinstance(v, (str, bytes)):
        raise ValueError("a number is required, not text (remove the quotes)")
    return v


#: Numbers of the input models: never read from text or a boolean.
Int = Annotated[int, BeforeValidator(not_text)]
Float = Annotated[float, BeforeValidator(not_text)]
Number = Float


class Spec(BaseModel):
    """Base of every input model: frozen, unknown keys refused, every float finite (an infinite
    horizon, rate or peak gives no error but nonsense). Numeric fields are :data:`Int` or
    :data:`Float`, which refuse text and booleans."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


#: Largest scale-up domain and largest fleet, in chips (``hardware.chips`` has the same limit).
MAX_CHIPS = 10_000_000
#: Per-chip figures outside these bounds are unit mistakes (FLOP/s given as TFLOPS, GB as bytes)
#: and, near zero, would make step times overflow to infinity.
MAX_TFLOPS, MIN_TFLOPS = 1e6, 1e-3
MAX_BYTES, MIN_BANDWIDTH = 1e15, 1e6

#: Dense peak TFLOPS of one tensor format.
PeakTflops = Annotated[Number, Field(ge=MIN_TFLOPS, le=MAX_TFLOPS)]


class NetworkTier(Spec):
    """One tier of the scale-up network, innermost first.

    ``bandwidth_bytes_per_s`` is per chip per direction: what one chip can push into this tier (a
    ``full_mesh`` spreads it evenly over direct links to its ``chips - 1`` peers). ``chips`` is how
    many chips one domain of this tier spans (4 for a Maia 200 tray). ``pooled`` marks a switched
    tier whose ports belong to the same NIC as the tiers inside it and reach their peers too (Maia
    200's Ethernet): collectives spread the inner tiers' traffic over its links as well,
    concurrently.
    """

    name: str
    chips: Int = Field(ge=1, le=MAX_CHIPS, description=(
        "How many chips one domain of this tier spans; at most 10,000,000 (the largest fleet)."))
    bandwidth_bytes_per_s: Float = Field(ge=MIN_BANDWIDTH, le=MAX_BYTES, description=(
        "Per chip, per direction: what one chip can push into this tier (a `full_mesh` splits it "
        "evenly over its links to the other chips). 1e6 to 1e15 bytes/s: outside that is a unit "
        "mistake, and near zero collective times overflow."))
    latency_s: Float = Field(ge=0, le=1.0, description=(
        "Latency per hop; at most 1 s (more is a unit mistake: microseconds given as seconds)."))
    oversubscription: Float = Field(default=1.0, ge=1.0, le=1000.0, description=(
        "Divides the tier's bandwidth (3.0 = 1:3 oversubscribed); at most 1000."))
    topology: Literal["full_mesh", "switched", "torus"] = "switched"
    #: This switched tier's ports are more ports of the inner tiers' NIC and reach their peers too:
    #: collectives use the pooled links concurrently (Maia 200's Ethernet T0 tier).
    pooled: bool = False


class Price(Spec):
    """A chip's catalog price, for costing a scenario that gives none: rental or purchase."""

    chip_hour_usd: Float | None = Field(default=None, ge=0)
    capex_usd: Float | None = Field(default=None, ge=0)


class ChipSpec(Spec):
    """Peak figures of one accelerator. Sustained fractions live in its calibration, not here."""

    vendor: str = ""
    description: str = ""
    peak_tflops: dict[Precision, PeakTflops] = Field(description=(
        "Dense (no sparsity) tensor TFLOPS per precision. A scenario may only use precisions "
        "listed here. Each 0.001 to 1,000,000 (1 GFLOP/s to 1 EFLOP/s): outside that is a unit "
        "mistake, and near zero step times overflow."))
    hbm_bytes: Float = Field(gt=0, le=MAX_BYTES, description=(
        "HBM capacity per chip (bytes); at most 1e15 (1 PB: more is a unit mistake)."))
    memory_reported_bytes: Float | None = Field(default=None, gt=0, le=MAX_BYTES, description=(
        "Memory as the device reports it to the serving engine (nvidia-smi / rocm-smi total, "
        "bytes): what engines size the KV cache from. Marketed gigabytes are rounded (an "
        "'80 GB' H100 reports 85.5e9 bytes). Omitted: `hbm_bytes`."))
    host_link_bytes_per_s: Float | None = Field(default=None, ge=MIN_BANDWIDTH, le=MAX_BYTES,
                                                description=(
        "Bandwidth per direction between the chip and its host's memory (PCIe, NVLink-C2C), "
        "bytes/s: the path of KV-cache offload (`deployment.kv_offload`). None: not published."))
    hbm_bandwidth_bytes_per_s: Float = Field(ge=MIN_BANDWIDTH, le=MAX_BYTES, description=(
        "Peak HBM bandwidth per chip (bytes/s); 1e6 to 1e15 (outside that is a unit mistake, and "
        "near zero step times overflow)."))
    sram_bytes: Float | None = Field(default=None, ge=0, le=MAX_BYTES, description=(
        "On-chip SRAM (bytes); informational, not used by the iteration model. At most 1e15."))
    tdp_w: Float | None = Field(default=None, gt=0, le=1e6, description=(
        "Board power (W) for energy and TCO; without it energy is NaN. At most 1,000,000 W."))
    idle_power_fraction: Float = Field(default=0.3, ge=0, le=1)
    chips_per_node: Int = Field(default=8, ge=1, le=MAX_CHIPS)
    scale_up: tuple[NetworkTier, ...] = Field(min_length=1, max_length=16, description=(
        "The scale-up network as tiers, innermost first; chips per tier must not shrink outward. "
        "At most 16 tiers."))
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
                raise ValueError(f"scale_up.{i}.pooled: only a switched tier outside another tier "
                                 f"can pool its ports with the inner tiers (got {t.topology} tier "
                                 f"{i})")
        return self

    def peak_flops(self, precision: str) -> float:
        """Dense peak FLOP/s at ``precision``; raises if the chip has no such tensor format."""
        try:
            return self.peak_tflops[precision] * 1e12  # type: ignore[index]
        except KeyError:
            have = ", ".join(sorted(self.peak_tflops))
            raise ValueError(f"chip does not support {precision} (supported: {have})") from None

    @property
    def memory_bytes(self) -> float:
        """Bytes the memory plan works with: the device-reported figure when the catalog has one
        (engines size their KV cache from it), else the marketed ``hbm_bytes``."""
        return float(self.memory_reported_bytes if self.memory_reported_bytes is not None
                     else self.hbm_bytes)

    @property
    def power_w(self) -> float:
        """Board power used for energy; a chip without a published TDP cannot be costed in
        joules."""
        return float(self.tdp_w) if self.tdp_w is not None else float("nan")
