"""What a chip-hour costs, on which basis, and the energy of a run at the chip, rack and wall.

Cost per token and tokens per joule are only as good as these prices, so the rule that prices a
chip-hour is written once here, and every frame names its basis and source. Rental reads the
catalog's market price; ownership prices the chip from its capex, the power the run *measured*
(not the TDP) and the facility (:mod:`maiasim.physics.ownership`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..catalog import prices
from ..physics.datacenter import ownership_terms, rack_for
from ..physics.ownership import ownership_usd_per_chip_hour
from ..physics.power import RackPower
from ..scenario.datacenter import DatacenterConfig

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


@dataclass(frozen=True)
class FleetEnergy:
    """A run's energy (J) at the chip, in the racks (chip + host + network) and at the wall (rack x
    PUE), and the fleet's racks and provisioned power."""

    chip_j: float
    host_j: float
    network_j: float
    pue: float
    racks: int
    rack_kw: float
    provisioned_kw: float

    @property
    def rack_j(self) -> float:
        """Chip, host and network energy: the IT energy the racks draw."""
        return self.chip_j + self.host_j + self.network_j

    @property
    def wall_j(self) -> float:
        """Rack energy through the facility's PUE."""
        return self.rack_j * self.pue

    @classmethod
    def of(cls, rack: RackPower, chips: int, duration_s: float, chip_j: float) -> FleetEnergy:
        """The fleet of ``chips`` chips in ``rack``'s racks over ``duration_s`` whose chips drew
        ``chip_j``."""
        return cls(chip_j, rack.host_energy_j(chips, duration_s),
                   rack.network_energy_j(chips, duration_s), rack.pue, rack.racks(chips),
                   rack.rack_peak_w() / 1e3, chips * rack.provisioned_w_per_chip() / 1e3)

    def avg_it_power_w_per_chip(self, chips: int, duration_s: float) -> float:
        """Mean rack (IT) power per chip over the run: what ownership pays electricity on."""
        return self.rack_j / max(chips * duration_s, 1e-12)
