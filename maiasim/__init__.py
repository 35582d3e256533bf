"""maiasim: discrete-event simulation of AI inference accelerator datacenters.

    import maiasim as ms
    sc = ms.load_scenario("scenarios/maia200-llama70b-conv.yaml")
    res = ms.simulate(sc.with_overrides({"deployment.replicas": 8}))
    res.summary, res.requests, res.replicas, res.timeline
"""

from __future__ import annotations

from .calibration import Calibration
from .perf import DoesNotFit
from .result import Result
from .scenario import Scenario, ScenarioError, from_dict, load_scenario
from .sweep import sweep

__version__ = "0.1.0"

__all__ = ["Calibration", "DoesNotFit", "Result", "Scenario", "ScenarioError", "from_dict", "load_scenario",
           "simulate", "sweep", "__version__"]


def simulate(scenario: Scenario | str, *, progress: bool = False, calibration: Calibration | None = None) -> Result:
    """Run one scenario (a :class:`Scenario` or a path to its YAML) and return its :class:`Result`."""
    from .engine import run

    sc = load_scenario(scenario) if not isinstance(scenario, Scenario) else scenario
    return Result(sc, run(sc, calibration, progress=progress))
