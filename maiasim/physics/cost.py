"""What a chip-hour costs, and on which basis: rental, or ownership (capex, measured power,
facility).

Pure functions of a pool's ``cost`` block and its chip. ``build`` prices each pool once before
the run (ownership at the provisioned power: the fleet router ranks pools by it), and the results
price it again at the power the run *measured* (:mod:`maiasim.results.economics`); the rule is
written once, here, and every frame names its basis and source (docs/economics.md).
"""

from __future__ import annotations

import math

from ..catalog import prices
from ..scenario.datacenter import DatacenterConfig
from .datacenter import ownership_terms, rack_for
from .ownership import ownership_usd_per_chip_hour
from .power import RackPower

__all__ = ["chip_hour_usd"]

NAN = float("nan")


def chip_hour_usd(cost, name: str, chip, *, rack: RackPower | None = None,
                  avg_power_w: float | None = None, draw: dict | None = None
                  ) -> tuple[float, str, str]:
    """(USD per chip-hour, basis, source) for the scenario ``cost`` section and chip ``name``
    (its resolved spec ``chip``).

    ``rental``: ``cost.chip_hour_usd``, else the catalog's rental price. ``ownership``:
    ``cost.chip_hour_usd``, else capex over life + electricity x PUE x ``avg_power_w`` (the
    measured mean IT power per chip; the provisioned power when not given, e.g. to list prices
    before a run) + facility rent on the provisioned power. NaN where the basis has no figure for
    the chip (the frames then say cost is unknown rather than zero). ``draw``: figures drawn
    from their ranges (uncertainty bands)."""
    basis = cost.effective_basis
    if cost.chip_hour_usd is not None:
        return float(cost.chip_hour_usd), basis, f"scenario cost.chip_hour_usd ({basis})"
    econ = prices.chip_economics(name)
    if basis == "rental":
        fig = econ.rental_usd_per_chip_hour if econ is not None else None
        if fig is None:
            return NAN, basis, (f"no rental price for {name}: set cost.chip_hour_usd (or --price) "
                                "or use basis ownership")
        usd = draw.get("rental", fig.value) if draw else fig.value
        return float(usd), basis, f"catalog rental: {fig.source}"
    rack = rack or rack_for(name, chip, DatacenterConfig(), draw)
    terms = ownership_terms(name, cost, rack.pue, draw)
    if terms is None:
        return NAN, basis, (f"no ownership figures for {name}: set cost.ownership.chip_capex_usd "
                            "(or cost.chip_hour_usd, --price) or use basis rental")
    prov = rack.provisioned_w_per_chip()
    measured = avg_power_w is not None and not math.isnan(avg_power_w)
    avg = avg_power_w if measured else prov
    usd = ownership_usd_per_chip_hour(terms, avg, prov)
    return usd, basis, (f"ownership: capex ${terms.capex_usd:,.0f} over "
                        f"{terms.lifetime_years:g} y + {avg:,.0f} W "
                        f"{'measured' if measured else 'provisioned'} x PUE {terms.pue:g} x "
                        f"${terms.electricity_usd_per_kwh:g}/kWh + "
                        f"${terms.facility_usd_per_kw_month:g}/kW-month x {prov:,.0f} W")


