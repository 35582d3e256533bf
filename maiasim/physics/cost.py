"""What a chip-hour costs: rental price, or owner's TCO (capex over life plus power).

Pure functions of a pool's ``cost`` block and its chip, resolved once per pool when a scenario is
built (:mod:`maiasim.build`): the fleet router ranks pools by price and the frames report it, so
the rule that picks a chip-hour price is written once, here.
"""

from __future__ import annotations

import math

from ..spec.cost import ELECTRICITY_USD_PER_KWH, HOURS_PER_YEAR, LIFETIME_YEARS, PUE

__all__ = ["chip_hour_usd", "tco_chip_hour_usd"]

_DEFAULT_TCO = (f"catalog capex with default TCO ({LIFETIME_YEARS:g} y, "
                f"${ELECTRICITY_USD_PER_KWH:g}/kWh, PUE {PUE:g})")


def tco_chip_hour_usd(capex_usd: float, lifetime_years: float, power_w: float,
                      electricity_usd_per_kwh: float, pue: float) -> float:
    """Straight-line depreciation plus electricity at full power through the facility's PUE.

    Full power for every hour: an owner pays for the capacity it provisions, busy or not."""
    energy = power_w / 1000.0 * pue * electricity_usd_per_kwh
    return capex_usd / (lifetime_years * HOURS_PER_YEAR) + (0.0 if math.isnan(energy) else energy)


def chip_hour_usd(cost, chip) -> tuple[float, str]:
    """(price per chip-hour, where it came from) for a scenario's ``cost`` block and a chip spec.

    Order: explicit ``chip_hour_usd``; a TCO block; the catalog's rental price; the catalog's capex
    with the default TCO terms of :mod:`maiasim.spec.cost`; otherwise NaN (the frames then say
    cost is unknown rather than zero)."""
    if cost.chip_hour_usd is not None:
        return cost.chip_hour_usd, "scenario cost.chip_hour_usd"
    if cost.tco is not None:
        t = cost.tco
        return (tco_chip_hour_usd(t.capex_usd, t.lifetime_years, chip.power_w,
                                  t.electricity_usd_per_kwh, t.pue), "scenario cost.tco")
    if chip.price.chip_hour_usd is not None:
        return chip.price.chip_hour_usd, "catalog price.chip_hour_usd"
    if chip.price.capex_usd is not None:
        return (tco_chip_hour_usd(chip.price.capex_usd, LIFETIME_YEARS, chip.power_w,
                                  ELECTRICITY_USD_PER_KWH, PUE), _DEFAULT_TCO)
    return float("nan"), "unknown: set cost.chip_hour_usd or cost.tco"
