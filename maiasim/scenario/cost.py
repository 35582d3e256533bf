"""What a chip-hour costs: a rental price, or an owner's TCO built from capex and electricity.

The TCO defaults live in :mod:`maiasim.spec.cost`, shared with the economics that turn them into a
price, so a default changes in one place.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from ..spec.cost import ELECTRICITY_USD_PER_KWH, LIFETIME_YEARS, PUE
from ..spec.hardware import Float
from .fields import ConfigModel

__all__ = ["TCO", "CostConfig"]


class TCO(ConfigModel):
    """Owner's cost per chip-hour: straight-line capex plus electricity at the facility's PUE."""

    capex_usd: Float = Field(gt=0, description=(
        "per chip, including its share of host, network and rack"))
    lifetime_years: Float = Field(default=LIFETIME_YEARS, gt=0, description=(
        "Straight-line depreciation period."))
    electricity_usd_per_kwh: Float = Field(default=ELECTRICITY_USD_PER_KWH, ge=0, description=(
        "Electricity price; the chip draws its TDP for every hour billed."))
    pue: Float = Field(default=PUE, ge=1, description=(
        "Facility power usage effectiveness (multiplies chip power)."))


class CostConfig(ConfigModel):
    """The price of a chip-hour, which turns throughput into cost per token; one way of pricing at
    most, so that the price used is never in doubt."""

    chip_hour_usd: Float | None = Field(default=None, ge=0, description=(
        "Price of one chip for one hour, applied to every chip for the whole simulated duration "
        "(including drain)."))
    tco: TCO | None = Field(default=None, description=(
        "Owner's cost instead of a rental price (give one or the other)."))

    @model_validator(mode="after")
    def _one(self):
        if self.chip_hour_usd is not None and self.tco is not None:
            raise ValueError("give either chip_hour_usd or tco, not both")
        return self
