"""maiasim: discrete-event simulation of AI inference accelerator datacenters.

    import maiasim as ms
    sc = ms.load_scenario("scenarios/maia200-llama70b-conv.yaml")
    res = ms.simulate(sc.with_overrides({"deployment.replicas": 8}))
    res.summary, res.requests, res.replicas, res.timeline
"""

from __future__ import annotations

import os

from .physics.step import DoesNotFit
from .results.frames import Result
from .scenario.schema import Scenario, ScenarioError, from_dict, load_scenario
from .spec.calibration import Calibration
from .studies.sweep import sweep

__version__ = "0.1.0"

__all__ = ["Calibration", "DoesNotFit", "Result", "Scenario", "ScenarioError", "from_dict", "load_scenario",
           "simulate", "sweep", "__version__"]


def simulate(scenario: Scenario | dict | str | os.PathLike, *, progress: bool = False,
             calibration: Calibration | None = None, uncertainty: int | None = None) -> Result:
    """Run one scenario (a :class:`Scenario`, a dict as for :func:`from_dict`, or a path to its
    YAML) and return its :class:`Result`.

    ``uncertainty=N`` (default: the scenario's ``uncertainty.samples``) also runs N draws of the
    calibration ranges and adds ``<metric>_p5/_p50/_p95`` columns to ``summary`` (see
    :mod:`maiasim.studies.uncertainty`); the other frames stay those of the nominal calibration."""
    from .engine import run

    sc = _as_scenario(scenario)
    n = sc.uncertainty.samples if uncertainty is None else int(uncertainty)
    if n:
        from .studies import uncertainty as _unc

        return _unc.run(sc, n, calibration=calibration, progress=progress)
    return Result(sc, run(sc, calibration, progress=progress))


def _as_scenario(scenario: object) -> Scenario:
    """A Scenario from what :func:`simulate` accepts; a dict is validated like ``from_dict``."""
    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, dict):
        return from_dict(scenario)
    if isinstance(scenario, (str, os.PathLike)):
        return load_scenario(scenario)
    raise TypeError(f"simulate() takes a Scenario, a dict (see maiasim.from_dict) or a path to "
                    f"a YAML file, not {type(scenario).__name__}")
