"""Chips, models and calibrations shipped as package data (YAML), with a source for every figure."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml

from ..spec.calibration import Calibration
from ..spec.hardware import ChipSpec
from ..spec.model import ModelSpec
from ..spec.stack import StackSpec


class UnknownName(ValueError):
    """A chip or model name the catalog does not ship; the message lists the known names."""


def _read(name: str) -> dict:
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    return yaml.safe_load(text) or {}


@cache
def chips() -> dict[str, ChipSpec]:
    """Every shipped chip by name, read and validated once."""
    return {k: ChipSpec.model_validate(v) for k, v in _read("chips.yaml").items()}


@cache
def models() -> dict[str, ModelSpec]:
    """Every shipped model by name, read and validated once."""
    return {k: ModelSpec.model_validate(v) for k, v in _read("models.yaml").items()}


@cache
def stacks() -> dict[str, StackSpec]:
    """Every shipped serving-stack profile by name, read and validated once."""
    return {k: StackSpec.model_validate(v) for k, v in _read("stacks.yaml").items()}


def stack(name: str) -> StackSpec:
    """The shipped serving-stack profile ``name``; a typo names the choices."""
    return _lookup("serving stack", stacks(), name)


def _lookup(kind: str, table: dict, name: str):
    try:
        return table[name]
    except KeyError:
        raise UnknownName(f"unknown {kind} {name!r} (known: {', '.join(sorted(table))})") from None


def chip(name: str) -> ChipSpec:
    """The shipped chip ``name``; raises :class:`UnknownName` so a typo names the choices."""
    return _lookup("chip", chips(), name)


def model(name: str) -> ModelSpec:
    """The shipped model ``name``; raises :class:`UnknownName` so a typo names the choices."""
    return _lookup("model", models(), name)


def calibration_path(chip_name: str) -> Path:
    """The path of the chip's shipped calibration file (which may not exist), for tools to check."""
    return Path(str(resources.files(__package__).joinpath("calibration", f"{chip_name}.yaml")))


@cache
def calibration(chip_name: str) -> Calibration:
    """The chip's shipped calibration, or generic defaults for a chip without one."""
    p = resources.files(__package__).joinpath("calibration", f"{chip_name}.yaml")
    if not p.is_file():
        return Calibration(chip=chip_name,
                           sources={"all": "generic defaults: no calibration for this chip"})
    return Calibration.model_validate(yaml.safe_load(p.read_text(encoding="utf-8")))


#: How far a chip's calibration can be trusted, as :func:`calibration_status` reports it.
CalibrationStatus = Literal["measured", "vendor", "generic"]


def calibration_status(chip_name: str) -> CalibrationStatus:
    """What the chip's shipped calibration rests on: ``"measured"`` (fitted to, or read from,
    independent measurements of the chip), ``"vendor"`` (the chip maker's own figures) or
    ``"generic"`` (middle-of-the-road defaults).

    Read from the calibration's ``basis``; a calibration without one is ``"measured"`` when its
    ``fitted_on`` names the data it was fitted to, else ``"generic"``, and so is a chip with no
    calibration file."""
    cal = calibration(chip_name)
    if cal.basis is not None:
        return cal.basis
    return "measured" if cal.fitted_on.strip() else "generic"
