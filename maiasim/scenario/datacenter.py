"""The datacenter around the chips: rack power budget, PUE, and placement overrides.

The catalog (``maiasim/catalog/economics.yaml``) gives each chip family its tray, rack and the
host and network power beside it; this section may override them and set a rack power budget, under
which a rack's chips are capped and run compute-bound work slower (:mod:`maiasim.physics.power`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ..spec.hardware import Float, Int
from .fields import ConfigModel

__all__ = ["DatacenterConfig"]


class DatacenterConfig(ConfigModel):
    """Racks, their power budget and the facility's PUE."""

    rack_power_budget_w: Annotated[Float, Field(gt=0, le=1e7)] | Literal["catalog"] | None = Field(
        default=None, description=(
            "Power a rack may draw (W, at most 1e7); over it the chips are capped and slowed. "
            "'catalog' uses the chip family's rated rack power; None (default) leaves racks "
            "uncapped. Must cover at least one tray's idle power."))
    pue: Float | None = Field(default=None, ge=1, le=5, description=(
        "Facility power / IT power (wall energy = rack energy x PUE); default: the catalog's."))
    chips_per_tray: Int | None = Field(default=None, ge=1, le=1024, description=(
        "Chips per tray (node); default: the chip family's."))
    trays_per_rack: Int | None = Field(default=None, ge=1, le=1024, description=(
        "Trays per rack; default: the chip family's."))
    host_w_per_tray: Float | None = Field(default=None, ge=0, le=1e6, description=(
        "Constant non-chip power of a tray: CPUs, memory, fans, conversion (W)."))
    network_w_per_chip: Float | None = Field(default=None, ge=0, le=1e5, description=(
        "Constant NIC and switch power per chip (W)."))
