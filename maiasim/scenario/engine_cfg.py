"""How the simulation itself runs: engine switches, run-size guards and uncertainty sampling.

None of these describe the datacenter; they trade speed, memory and detail of the run.
"""

from __future__ import annotations

from pydantic import Field

from ..spec.hardware import Float, Int
from .fields import ConfigModel

__all__ = ["EngineConfig", "UncertaintyConfig"]


class EngineConfig(ConfigModel):
    """Switches of the simulation engine: exactness-preserving shortcuts, when a run ends, and a
    guard against runs too large to hold in memory."""

    fast_forward: bool = Field(default=True, description=(
        "Advance a decode-only batch to its next completion in one closed-form event. Exact: "
        "`false` (token-by-token) gives the same frames up to float rounding, only slower."))
    drain: bool = Field(default=True, description=(
        "After the horizon, keep serving until every admitted request ends. When false the run "
        "stops at the horizon and unfinished requests are `in_flight`."))
    max_drain_s: Float | None = Field(default=None, gt=0, description=(
        "stop draining after this long past the horizon"))
    timeline_bin_s: Float | None = Field(default=None, gt=0, description=(
        "Width of `Result.timeline` bins; default about 1/120 of the run, rounded to 1, 2 or 5 x "
        "10^n s. `horizon_s / timeline_bin_s` may be at most 1,000,000 bins."))
    max_requests: Int = Field(default=20_000_000, ge=1, le=200_000_000, description=(
        "refuse (before drawing them) workloads that would issue more requests than this"))


class UncertaintyConfig(ConfigModel):
    """Calibration draws for uncertainty bands: the calibration factors are estimates, so a result
    can carry the spread they imply."""

    samples: Int = Field(default=0, ge=0, le=1000, description=(
        "Number of calibration draws (from the calibration's `ranges`) for uncertainty runs: "
        "`simulate` runs this many extra draws and adds `_p5/_p50/_p95` columns to the summary; "
        "0 = off."))
