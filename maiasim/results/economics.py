"""The energy of a run at the chip, in the racks and at the wall, and the price rule's home.

Cost per token and tokens per joule are only as good as the prices and power behind them: the
rule that prices a chip-hour is :func:`maiasim.physics.cost.chip_hour_usd` (re-exported here);
:class:`FleetEnergy` adds the host, network and facility around the chips' measured energy.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..physics.cost import chip_hour_usd
from ..physics.power import RackPower

__all__ = ["FleetEnergy", "chip_hour_usd"]


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

    @classmethod
    def total(cls, parts: list[FleetEnergy]) -> FleetEnergy:
        """Several pools' energies as one fleet's: sums, the first pool's PUE (the facility is
        the scenario's), ``rack_kw`` the racks' mean rating."""
        racks = sum(p.racks for p in parts)
        return cls(sum(p.chip_j for p in parts), sum(p.host_j for p in parts),
                   sum(p.network_j for p in parts), parts[0].pue, racks,
                   sum(p.rack_kw * p.racks for p in parts) / max(racks, 1),
                   sum(p.provisioned_kw for p in parts))

    def avg_it_power_w_per_chip(self, chips: int, duration_s: float) -> float:
        """Mean rack (IT) power per chip over the run: what ownership pays electricity on."""
        return self.rack_j / max(chips * duration_s, 1e-12)
