"""The cost and datacenter facts of a chip, as data: prices, capex, rack placement, power shape.

An owner's facility terms (:class:`Facility`: lifetime, electricity, PUE, facility rent) and, per
chip, a :class:`ChipEconomics`, both read from ``maiasim/catalog/economics.yaml``: a rental price
and an ownership capex split (chip, server share, network share), the chip's tray and rack, the
host and network power beside it, and the fitted activity power shape. Every figure is a
:class:`Figure`: a nominal value, a low-high range (which the uncertainty bands sample) and the
source text, or the name of the assumption it is (never a silent default).
"""

from __future__ import annotations

from pydantic import Field, model_validator

from .hardware import Float, Int, Spec

#: Hours in a year for depreciation: a Julian year, 365.25 days of 24 hours (a definition).
HOURS_PER_YEAR = 8766.0

#: The two ways of pricing a chip-hour.
BASES = ("rental", "ownership")


class Figure(Spec):
    """A number with its range and where it came from. ``source`` quotes the evidence, or names
    the assumption (``assumption (E): ...``) and what it is derived from."""

    value: Float = Field(ge=0)
    low: Float | None = Field(default=None, ge=0)
    high: Float | None = Field(default=None, ge=0)
    source: str = Field(min_length=1)

    @model_validator(mode="after")
    def _range(self) -> Figure:
        lo = self.value if self.low is None else self.low
        hi = self.value if self.high is None else self.high
        if not lo <= self.value <= hi:
            raise ValueError(f"need low <= value <= high, got {lo} <= {self.value} <= {hi}")
        return self

    @property
    def range(self) -> tuple[float, float]:
        """(low, high), the value itself where a bound is not given."""
        return (self.value if self.low is None else self.low,
                self.value if self.high is None else self.high)


class Ownership(Spec):
    """Capex per chip, split as an owner buys it: the chip, its share of the server (tray, host
    CPU, memory, chassis) and its share of the scale-out network (NICs, switches, optics)."""

    chip_capex_usd: Figure
    server_capex_usd: Figure
    network_capex_usd: Figure


class Placement(Spec):
    """How the chips are racked, and the power beside them.

    ``host_w_per_tray``: everything in a tray but the chips (CPUs, memory, fans, in-tray switches
    and power conversion), drawn at a constant rate (named assumption: it does not follow the
    chips' load). ``network_w_per_chip``: the chip's share of scale-out NICs and switches, also
    constant. ``rack_power_w``: the rack's rated power, the budget a rack is built for (None:
    not found)."""

    chips_per_tray: Int = Field(ge=1)
    trays_per_rack: Int = Field(ge=1)
    rack_power_w: Figure | None = None
    host_w_per_tray: Figure
    network_w_per_chip: Figure
    source: str = Field(min_length=1)


class PowerShape(Spec):
    """Chip power from what it does, as fractions of its TDP: ``idle + a_mfu * MFU + b_mbu * MBU``
    (capped at TDP). Fitted on measured DGX-A100 runs (``tools/fit_power.py``); other chips use
    the same shape scaled to their TDP."""

    idle: Float = Field(ge=0, le=1)
    a_mfu: Float = Field(ge=0, le=10)
    b_mbu: Float = Field(ge=0, le=10)
    scale: Figure  # a factor on all three, 1.0 nominal; its range is sampled by the bands
    source: str = Field(min_length=1)


class Facility(Spec):
    """An owner's facility terms, each with its range and source."""

    lifetime_years: Figure
    electricity_usd_per_kwh: Figure
    pue: Figure
    facility_usd_per_kw_month: Figure


class ChipEconomics(Spec):
    """A chip's rental price and ownership capex (None where no source and no assumption exists:
    then that basis cannot price it), its placement and its power shape."""

    rental_usd_per_chip_hour: Figure | None = None
    ownership: Ownership | None = None
    placement: Placement
    note: str = ""
