"""What every part of the accuracy report shares: where things are, the dataset record, and the
report's own data files (``tools/validation/data/*.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from maiasim import catalog
from maiasim.spec.hardware import ChipSpec
from maiasim.spec.model import ModelSpec

ROOT = Path(__file__).resolve().parents[2]
#: The public measurements (vendored, with their licences): data/calibration/README.md.
DATA_DIR = ROOT / "data" / "calibration"
DOCS = ROOT / "docs"
OUT = DOCS / "validation"
HERE = Path(__file__).resolve().parent
TEMPLATES = ROOT / "tools" / "templates"
#: How the report is regenerated; written into every file it produces.
COMMAND = "python -m tools.validation"


@cache
def config(name: str) -> dict[str, Any]:
    """One of the report's data files, ``tools/validation/data/<name>.yaml``."""
    return yaml.safe_load((HERE / "data" / f"{name}.yaml").read_text(encoding="utf-8"))


@cache
def model(name: str) -> ModelSpec:
    """A model of ``data/models.yaml`` (models the report needs that the catalog does not ship)."""
    return ModelSpec.model_validate(config("models")[name])


@cache
def validation_chips() -> dict[str, ChipSpec]:
    """Chips used only by the report (``maiasim/catalog/validation_chips.yaml``), e.g. the MI210 of
    the LLMCompass data: sourced like the catalog's, but not offered to scenarios."""
    text = resources.files("maiasim.catalog").joinpath("validation_chips.yaml").read_text(
        encoding="utf-8")
    return {k: ChipSpec.model_validate(v) for k, v in (yaml.safe_load(text) or {}).items()}


def chip_spec(name: str) -> ChipSpec:
    """A catalog chip, or one of :func:`validation_chips`."""
    return validation_chips()[name] if name in validation_chips() else catalog.chip(name)


@dataclass
class Dataset:
    """One validated dataset: per-case report rows (``split`` = fit / held-out) and how it was
    fitted, with what the report says about it."""

    key: str
    title: str
    group: str  # gemm | allreduce | sendrecv | splitwise | elementwise | layer
    chip: str
    source: str
    split_rule: str
    report: pd.DataFrame
    fitted: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    excluded: pd.DataFrame | None = None
