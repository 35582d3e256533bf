"""A chip's racks and ownership terms, resolved once from the catalog and the scenario's overrides.

:func:`rack_for` is what ``build`` (the cap's slowdown) and the results (energy, racks) both read,
so the two can never disagree; :func:`ownership_terms` is what the economics price from.
"""

from __future__ import annotations

from ..catalog import prices
from ..errors import ScenarioError
from ..spec.cost import ChipEconomics, Figure
from ..spec.hardware import ChipSpec
from .ownership import OwnershipTerms
from .power import BudgetTooLow, RackPower, cap_for_budget

#: the placement an inline chip (one the catalog does not list) gets: one chip per tray and rack
#: with nothing beside it, so its energy is its own and nothing is invented for it
_BARE = {"chips_per_tray": 1, "trays_per_rack": 1, "host_w_per_tray": 0.0,
         "network_w_per_chip": 0.0, "rack_power_w": None}


def _v(fig: Figure | None, draw: dict | None, key: str) -> float | None:
    """A figure's value, or the value drawn for ``key`` (uncertainty bands)."""
    if draw is not None and key in draw:
        return draw[key]
    return None if fig is None else fig.value


def placement_values(name: str, dc, draw: dict | None = None) -> dict:
    """The placement of chip ``name`` with the scenario's ``datacenter`` overrides applied."""
    econ = prices.chip_economics(name)
    if econ is None:
        base = dict(_BARE)
    else:
        p = econ.placement
        base = {"chips_per_tray": p.chips_per_tray, "trays_per_rack": p.trays_per_rack,
                "host_w_per_tray": _v(p.host_w_per_tray, draw, "host_w_per_tray"),
                "network_w_per_chip": _v(p.network_w_per_chip, draw, "network_w_per_chip"),
                "rack_power_w": _v(p.rack_power_w, None, "")}
    for k in ("chips_per_tray", "trays_per_rack", "host_w_per_tray", "network_w_per_chip"):
        if getattr(dc, k) is not None:
            base[k] = getattr(dc, k)
    return base


def rack_for(name: str, chip: ChipSpec, dc, draw: dict | None = None) -> RackPower:
    """The chip family's :class:`RackPower` under the scenario's ``datacenter`` section ``dc``.

    ``draw``: figures drawn from their ranges (keys ``pue``, ``host_w_per_tray``,
    ``network_w_per_chip``, ``power_scale``), for uncertainty bands. Raises
    :class:`ScenarioError` for a budget below one tray's idle power, or ``catalog`` for a family
    without a rated rack power."""
    pl = placement_values(name, dc, draw)
    shape = prices.power_shape()
    k = _v(shape.scale, draw, "power_scale")
    idle = shape.idle * k
    pue = dc.pue if dc.pue is not None else _v(prices.facility().pue, draw, "pue")
    tdp = chip.power_w
    cap, freq, trays = tdp, 1.0, pl["trays_per_rack"]
    budget = dc.rack_power_budget_w
    if budget == "catalog":
        budget = pl["rack_power_w"]
        if not budget:
            raise ScenarioError(f"datacenter.rack_power_budget_w: 'catalog', but the catalog has "
                                f"no rated rack power for {name!r}; give a number of watts")
    if budget is not None:
        try:
            cap, freq, trays = cap_for_budget(float(budget), tdp, idle, pl["chips_per_tray"],
                                              pl["trays_per_rack"], pl["host_w_per_tray"],
                                              pl["network_w_per_chip"])
        except BudgetTooLow as e:
            raise ScenarioError(f"datacenter.rack_power_budget_w: {e}") from None
    return RackPower(tdp_w=tdp, idle=idle, a_mfu=shape.a_mfu * k, b_mbu=shape.b_mbu * k,
                     chips_per_tray=pl["chips_per_tray"], trays_per_rack=trays,
                     host_w_per_tray=pl["host_w_per_tray"],
                     network_w_per_chip=pl["network_w_per_chip"], pue=pue, cap_w=cap, freq=freq)


def capped(chip: ChipSpec, rack: RackPower) -> ChipSpec:
    """The chip with its peak FLOP/s scaled by the cap's clock ratio (unchanged when uncapped)."""
    if rack.freq >= 1.0:
        return chip
    return chip.model_copy(update={"peak_tflops": {k: v * rack.freq
                                                   for k, v in chip.peak_tflops.items()}})


def ownership_terms(name: str, cost, pue: float, draw: dict | None = None) -> OwnershipTerms | None:
    """The ownership figures of chip ``name`` with the scenario's ``cost.ownership`` overrides and
    the facility's ``pue``,
    or None when the catalog has no ownership figure for it and the overrides do not complete one
    (all three capex parts are needed)."""
    econ: ChipEconomics | None = prices.chip_economics(name)
    fac = prices.facility()
    own = econ.ownership if econ is not None else None
    o = cost.ownership
    parts = {}
    for k in ("chip_capex_usd", "server_capex_usd", "network_capex_usd"):
        given = getattr(o, k)
        parts[k] = given if given is not None else (
            _v(getattr(own, k), draw, k) if own is not None else None)
    if parts["chip_capex_usd"] is None:
        return None
    parts = {k: (0.0 if v is None else v) for k, v in parts.items()}
    terms = {}
    for k in ("lifetime_years", "electricity_usd_per_kwh", "facility_usd_per_kw_month"):
        given = getattr(o, k)
        terms[k] = given if given is not None else _v(getattr(fac, k), draw, k)
    return OwnershipTerms(**parts, pue=pue, **terms)
