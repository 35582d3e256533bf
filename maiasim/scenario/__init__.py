"""The scenario: what to simulate, read from YAML (or a dict) into a typed, frozen model.

    from maiasim.scenario import load_scenario
    sc = load_scenario("scenarios/maia200-llama70b-conv.yaml", {"deployment.replicas": 8})

Modules: :mod:`.schema` (the top-level :class:`Scenario`, rules over several sections),
:mod:`.deployment`, :mod:`.workloads`, :mod:`.cost`, :mod:`.engine_cfg` (its sections),
:mod:`.limits` (every input limit), :mod:`.loading` (bounded file and YAML reading),
:mod:`.overrides` (dotted-path changes), :mod:`.messages` (one readable error per mistake).
"""

from __future__ import annotations

from ..errors import LimitExceeded, ScenarioError
from .cost import CostConfig, OwnershipOverrides
from .datacenter import DatacenterConfig
from .deployment import (
    DeploymentConfig,
    FrontEndConfig,
    HardwareConfig,
    PrecisionConfig,
    RouterConfig,
    SchedulerConfig,
)
from .engine_cfg import EngineConfig, UncertaintyConfig
from .loading import load_scenario, load_yaml, read_scenario_text
from .overrides import apply_overrides
from .schema import Scenario, from_dict, tensor_parallel_degrees
from .serving import Serving, serving
from .workloads import (
    SLO,
    Arrival,
    Burst,
    ClosedLoop,
    Fixed,
    Gamma,
    Lengths,
    Lognormal,
    Poisson,
    TraceArrival,
    TraceLengths,
    Uniform,
    WorkloadConfig,
)

__all__ = [
    "SLO", "Arrival", "Burst", "ClosedLoop", "CostConfig", "DatacenterConfig", "DeploymentConfig",
    "EngineConfig", "Fixed", "FrontEndConfig", "Gamma", "HardwareConfig", "Lengths",
    "LimitExceeded", "Lognormal", "OwnershipOverrides", "Serving",
    "Poisson", "PrecisionConfig", "RouterConfig", "Scenario", "ScenarioError", "SchedulerConfig",
    "TraceArrival", "TraceLengths", "UncertaintyConfig", "Uniform", "WorkloadConfig",
    "apply_overrides", "from_dict", "load_scenario", "load_yaml", "read_scenario_text",
    "serving", "tensor_parallel_degrees",
]
