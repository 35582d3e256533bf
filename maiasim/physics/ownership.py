"""What owning a chip costs per hour: capex over its life, its electricity, its share of the
building.

One formula, pure and written once, so that a hand calculation can check it (``tests/
test_ownership.py`` does)::

    usd/chip-hour = capex / (lifetime_years x 8766 h)
                  + electricity $/kWh x PUE x measured average IT power (kW)
                  + facility $/kW-month x provisioned IT kW / (8766 / 12 h)

Electricity follows the *measured* average power of the run (chip activity plus its constant host
and network share), not the TDP: a lightly loaded fleet pays less for power. The facility term
follows the *provisioned* power, because a building is paid for by the kW it can deliver, busy or
not.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..spec.cost import HOURS_PER_YEAR

#: hours in a month, as the facility rent is quoted per kW-month
HOURS_PER_MONTH = HOURS_PER_YEAR / 12.0


@dataclass(frozen=True)
class OwnershipTerms:
    """The figures an ownership price is built from, per chip. Capex is the chip plus its server
    and network shares."""

    chip_capex_usd: float
    server_capex_usd: float
    network_capex_usd: float
    lifetime_years: float
    electricity_usd_per_kwh: float
    pue: float
    facility_usd_per_kw_month: float

    @property
    def capex_usd(self) -> float:
        """All capex per chip."""
        return self.chip_capex_usd + self.server_capex_usd + self.network_capex_usd


def ownership_parts(t: OwnershipTerms, avg_power_w: float, provisioned_w: float
                    ) -> dict[str, float]:
    """USD per chip-hour by part: ``capex``, ``electricity``, ``facility`` (their sum is
    :func:`ownership_usd_per_chip_hour`). ``avg_power_w``: measured mean IT power per chip (chip,
    host and network share); ``provisioned_w``: the IT power provisioned per chip."""
    return {
        "capex": t.capex_usd / (t.lifetime_years * HOURS_PER_YEAR),
        "electricity": t.electricity_usd_per_kwh * t.pue * avg_power_w / 1000.0,
        "facility": t.facility_usd_per_kw_month * provisioned_w / 1000.0 / HOURS_PER_MONTH,
    }


def ownership_usd_per_chip_hour(t: OwnershipTerms, avg_power_w: float,
                                provisioned_w: float) -> float:
    """Owner's cost of one chip for one hour (see the module docstring for the formula)."""
    return sum(ownership_parts(t, avg_power_w, provisioned_w).values())
