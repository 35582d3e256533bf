"""maiasim: discrete-event simulation of AI inference accelerator datacenters.

    import maiasim as ms
    sc = ms.load_scenario("scenarios/maia200-llama70b-conv.yaml")
    res = ms.simulate(sc.with_overrides({"deployment.replicas": 8}))
    res.summary, res.requests, res.replicas, res.timeline
"""

from __future__ import annotations

from . import plot
from .api import simulate
from .errors import DoesNotFit, ScenarioError
from .results.frames import Result
from .results.memory import memory_plan
from .scenario import Scenario, from_dict, load_scenario
from .spec.calibration import Calibration
from .studies.sweep import sweep

__version__ = "0.1.0"

__all__ = ["plot", "Calibration", "DoesNotFit", "Result", "Scenario", "ScenarioError", "from_dict",
           "load_scenario", "memory_plan", "simulate", "sweep", "__version__"]
