"""What a chip-hour costs, and on which basis: rental, or an owner's capex, power and building.

The catalog (``maiasim/catalog/economics.yaml``) carries both figures, with sources and ranges;
this section picks the basis and may override any figure. The basis defaults to ``ownership``
(see :attr:`CostConfig.effective_basis`): it prices every chip the same way whether or not it is
rented out (Maia 200 is not), follows the power the run actually drew, and is the basis of the
perf-per-dollar claims a chip maker makes about its own fleet. A bare ``chip_hour_usd`` (older
scenarios) means a rental price.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..spec.hardware import Float
from .fields import ConfigModel

__all__ = ["CostConfig", "OwnershipOverrides"]


class OwnershipOverrides(ConfigModel):
    """Figures of the ownership basis that replace the catalog's (per chip; None keeps it)."""

    chip_capex_usd: Float | None = Field(default=None, ge=0, le=1e8, description=(
        "Purchase price of one chip (USD)."))
    server_capex_usd: Float | None = Field(default=None, ge=0, le=1e8, description=(
        "The chip's share of its server: tray, host CPU, memory, chassis (USD)."))
    network_capex_usd: Float | None = Field(default=None, ge=0, le=1e8, description=(
        "The chip's share of the scale-out network: NICs, switches, optics (USD)."))
    lifetime_years: Float | None = Field(default=None, gt=0, le=50, description=(
        "Straight-line depreciation period (years, > 0)."))
    electricity_usd_per_kwh: Float | None = Field(default=None, ge=0, le=10, description=(
        "Electricity price; charged on the run's measured power times the PUE."))
    facility_usd_per_kw_month: Float | None = Field(default=None, ge=0, le=1e5, description=(
        "Building, power and cooling plant per provisioned IT kW per month."))


class CostConfig(ConfigModel):
    """The price of a chip-hour, which turns throughput into cost per token, and its basis (every
    output names it: summary ``cost_basis``, ``usd_per_chip_hour``)."""

    basis: Literal["rental", "ownership"] | None = Field(default=None, description=(
        "rental ($/chip-hour from the market) or ownership (capex over life + electricity x PUE "
        "x measured power + facility $/kW-month). Default: rental when chip_hour_usd is given, "
        "else ownership."))
    chip_hour_usd: Float | None = Field(default=None, ge=0, le=1e4, description=(
        "A fixed price of one chip-hour on the basis, replacing the catalog's figure (applied "
        "to every chip for the whole simulated duration, drain included)."))
    ownership: OwnershipOverrides = Field(default=OwnershipOverrides(), description=(
        "Ownership figures replacing the catalog's."))

    @property
    def effective_basis(self) -> str:
        """The basis in force: the one given, else rental for a bare price, else ownership."""
        if self.basis is not None:
            return self.basis
        return "rental" if self.chip_hour_usd is not None else "ownership"
