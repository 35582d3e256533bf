"""What a chip-hour and a joule cost: rental price, or owner's TCO (capex over life plus power).

Cost per token and tokens per joule are only as good as these two prices, so the rule that picks
a chip-hour price is written once here, and the frames say where the price came from.
"""

from __future__ import annotations

from ..physics.cost import chip_hour_usd, tco_chip_hour_usd

__all__ = ["chip_hour_usd", "energy_j", "tco_chip_hour_usd"]


def energy_j(chips: int, tdp_w: float, idle_fraction: float, duration_s, busy_s):
    """Chip energy: idle draw all the time, the rest of TDP while busy (linear power model).

    Linear in busy time so that a replica's energy and the timeline's power add up exactly."""
    return chips * tdp_w * (idle_fraction * duration_s + (1.0 - idle_fraction) * busy_s)
