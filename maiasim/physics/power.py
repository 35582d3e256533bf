"""Power of a fleet from what its chips do, in racks: chip, host, network, and the wall.

Chip power follows its activity, as a fraction of TDP, ``idle + a MFU + b MBU``, capped at the
chip's power limit: a chip reading weights from HBM (decode, memory-bound) draws less than one
multiplying (prefill, compute-bound), and an idle chip draws its idle floor. The coefficients are
fitted on measured DGX-A100 runs (``tools/fit_power.py``; catalog ``power`` block). Because the
model is linear in the time-integrals of MFU and MBU, a replica's energy follows exactly from its
FLOP and HBM-byte totals, and the energy of a timeline bin adds up to the replica's.

Beside the chips, each tray draws ``host_w_per_tray`` and each chip ``network_w_per_chip`` at a
constant rate (named assumption: hosts, NICs and switches do not follow the load). Rack energy is
chip + host + network; the wall is rack x PUE.

A rack power budget below the rack's peak caps each chip's power. Frequency model: dynamic power
~ C V^2 f with the voltage scaled with the frequency inside the DVFS range, so dynamic power ~ f^3
(the classic CMOS cube law); static (idle) power is unchanged. A capped chip therefore runs at
``f = ((cap - idle) / (TDP - idle))^(1/3)`` of its clock: compute-bound time stretches by 1/f and
memory-bound time not at all (the HBM clock is not capped), so the cap scales the chip's peak
FLOP/s by ``f``. The cube law is the optimistic end (a linear model, f ~ power, would slow more);
POLCA (HF §4d) reports inference servers tolerating ~30% oversubscription for the same reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


class BudgetTooLow(ValueError):
    """A rack power budget that cannot run even one idle tray."""


@dataclass(frozen=True)
class RackPower:
    """One chip family's power in its racks, resolved for a scenario (all figures in W).

    ``cap_w``: the chip's power limit (its TDP unless a rack budget caps it); ``freq``: the clock
    ratio the cap leaves (1.0 uncapped); ``trays_per_rack``: trays a rack holds under the budget."""

    tdp_w: float
    idle: float
    a_mfu: float
    b_mbu: float
    chips_per_tray: int
    trays_per_rack: int
    host_w_per_tray: float
    network_w_per_chip: float
    pue: float
    cap_w: float
    freq: float = 1.0

    @property
    def idle_w(self) -> float:
        """A chip's idle draw."""
        return self.idle * self.tdp_w

    def chip_energy_j(self, chips, duration_s, flops, hbm_bytes, peak_flops: float,
                      hbm_bytes_per_s: float):
        """Energy of ``chips`` chips over ``duration_s`` that did ``flops`` and moved
        ``hbm_bytes`` (:func:`chip_energy_j` with this rack's chip)."""
        return chip_energy_j(self.tdp_w, self.idle, self.a_mfu, self.b_mbu, self.cap_w, chips,
                             duration_s, flops, hbm_bytes, peak_flops, hbm_bytes_per_s)

    def trays(self, chips: int) -> int:
        """Trays that ``chips`` chips occupy."""
        return math.ceil(chips / self.chips_per_tray)

    def racks(self, chips: int) -> int:
        """Racks that ``chips`` chips occupy."""
        return math.ceil(self.trays(chips) / self.trays_per_rack)

    def host_energy_j(self, chips: int, duration_s: float) -> float:
        """Host energy of the trays the chips occupy (constant draw)."""
        return self.trays(chips) * self.host_w_per_tray * duration_s

    def network_energy_j(self, chips: int, duration_s: float) -> float:
        """The chips' share of NIC and switch energy (constant draw)."""
        return chips * self.network_w_per_chip * duration_s

    def provisioned_w_per_chip(self) -> float:
        """IT power provisioned per chip: its power limit and its host and network shares."""
        return self.cap_w + self.host_w_per_tray / self.chips_per_tray + self.network_w_per_chip

    def rack_peak_w(self) -> float:
        """A full rack's power with every chip at its limit."""
        return self.trays_per_rack * (self.chips_per_tray * (self.cap_w + self.network_w_per_chip)
                                      + self.host_w_per_tray)


def chip_energy_j(tdp_w, idle, a_mfu, b_mbu, cap_w, chips, duration_s, flops, hbm_bytes,
                  peak_flops, hbm_bytes_per_s):
    """Energy of ``chips`` chips over ``duration_s`` that did ``flops`` and moved ``hbm_bytes``
    (totals over those chips): ``TDP (idle T + a flops / peak + b bytes / bandwidth)``, at most the
    power limit ``cap_w`` throughout. ``peak_flops`` and ``hbm_bytes_per_s`` are per chip, so
    ``flops / peak_flops`` is the time-integral of MFU over the chips. Arrays work elementwise."""
    chip_s = np.asarray(chips, float) * duration_s
    active = (a_mfu * np.asarray(flops, float) / peak_flops
              + b_mbu * np.asarray(hbm_bytes, float) / hbm_bytes_per_s)
    return np.minimum(tdp_w * (idle * chip_s + active), cap_w * chip_s)


def tray_idle_w(tdp_w: float, idle: float, chips_per_tray: int, host_w_per_tray: float,
                network_w_per_chip: float) -> float:
    """One tray's draw with every chip idle."""
    return chips_per_tray * (idle * tdp_w + network_w_per_chip) + host_w_per_tray


def cap_for_budget(budget_w: float, tdp_w: float, idle: float, chips_per_tray: int,
                   trays_per_rack: int, host_w_per_tray: float, network_w_per_chip: float
                   ) -> tuple[float, float, int]:
    """(chip power limit W, clock ratio f, trays per rack) under a rack power budget.

    Every tray of the rack is kept while they can all idle within the budget (else fewer trays,
    as many as can); the chips then share what is left equally, at most their TDP. Raises
    :class:`BudgetTooLow` when the budget is below one tray's idle draw."""
    tray_idle = tray_idle_w(tdp_w, idle, chips_per_tray, host_w_per_tray, network_w_per_chip)
    if not budget_w >= tray_idle:
        raise BudgetTooLow(f"{budget_w:g} W is below one tray's idle power ({tray_idle:,.0f} W: "
                           f"{chips_per_tray} chips at {idle * tdp_w:,.0f} W idle, "
                           f"{network_w_per_chip:g} W network each, {host_w_per_tray:,.0f} W "
                           "host)")
    trays = min(trays_per_rack, int(budget_w // tray_idle))
    per_chip = ((budget_w / trays - host_w_per_tray) / chips_per_tray) - network_w_per_chip
    cap = min(tdp_w, per_chip)
    return cap, clock_ratio(cap, tdp_w, idle), trays


def clock_ratio(cap_w: float, tdp_w: float, idle: float) -> float:
    """Clock ratio at power limit ``cap_w``: dynamic power ~ f^3 (module docstring); 1.0 at or
    above TDP, 0.0 at the idle floor."""
    idle_w = idle * tdp_w
    if cap_w >= tdp_w:
        return 1.0
    return max(0.0, (cap_w - idle_w) / (tdp_w - idle_w)) ** (1.0 / 3.0)


def racks_under_budget(facility_w: float, per_rack_w: float) -> int:
    """Racks that fit under a facility power budget (IT watts) at ``per_rack_w`` each."""
    if not per_rack_w > 0:
        return 0
    return int(facility_w // per_rack_w)
