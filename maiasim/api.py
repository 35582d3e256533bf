"""``simulate``: one scenario in, one :class:`Result` out. The library's front door."""

from __future__ import annotations

import os

from .build import build_fleet
from .engine import run
from .results.frames import Result
from .scenario import Scenario, as_scenario
from .spec.calibration import Calibration
from .studies import uncertainty as _unc


def simulate(scenario: Scenario | dict | str | os.PathLike, *, progress: bool = False,
             calibration: Calibration | None = None, uncertainty: int | None = None) -> Result:
    """Run one scenario (a :class:`Scenario`, a dict as for :func:`from_dict`, or a path to its
    YAML) and return its :class:`Result`.

    ``uncertainty=N`` (default: the scenario's ``uncertainty.samples``) also runs N draws of the
    calibration ranges and adds ``<metric>_p5/_p50/_p95`` columns to ``summary`` (see
    :mod:`maiasim.studies.uncertainty`); the other frames stay those of the nominal calibration."""
    sc = as_scenario(scenario, "simulate()")
    n = sc.uncertainty.samples if uncertainty is None else int(uncertainty)
    if n:
        return _unc.run(sc, n, calibration=calibration, progress=progress)
    return Result(sc, run(build_fleet(sc, calibration), progress=progress))
