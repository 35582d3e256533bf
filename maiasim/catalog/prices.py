"""The catalog's cost, placement and power data (``economics.yaml``), read and validated once.

Kept apart from ``chips.yaml`` so that the prices and the datacenter around a chip, which change
with the market and the site, sit in one file with their sources and ranges.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml

from ..spec.cost import ChipEconomics, Facility, PowerShape


@cache
def _data() -> dict:
    text = resources.files(__package__).joinpath("economics.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text) or {}


@cache
def facility() -> Facility:
    """The owner's facility terms: lifetime, electricity, PUE, facility rent (each with range)."""
    return Facility.model_validate(_data()["facility"])


@cache
def power_shape() -> PowerShape:
    """The fitted chip activity power shape (fractions of TDP)."""
    return PowerShape.model_validate(_data()["power"])


@cache
def all_chips() -> dict[str, ChipEconomics]:
    """Every chip's economics by catalog name."""
    return {k: ChipEconomics.model_validate(v) for k, v in _data()["chips"].items()}


def chip_economics(name: str) -> ChipEconomics | None:
    """The chip's economics, or None for a chip the file does not list (an inline chip)."""
    return all_chips().get(name)
