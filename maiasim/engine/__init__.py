"""The simulation engine: the only code that knows simpy.

``run(fleet)`` simulates a resolved scenario and returns its :class:`~.records.Records`;
``check(scenario)`` refuses, without running, what ``run`` would refuse at start.
"""

from ..scenario import Scenario, serving
from .cluster import run
from .failures import check_failures
from .routers import ROUTERS, make_router, router_class
from .schedulers import SCHEDULERS, make_scheduler, scheduler_class

__all__ = ["ROUTERS", "SCHEDULERS", "check", "make_router", "make_scheduler", "run"]


def check(sc: Scenario) -> None:
    """Raise ScenarioError for a routing or scheduling policy the engine does not have, or a
    drain of a pool or replica the fleet does not have."""
    check_failures(sc)
    for p in sc.pools:
        router_class(p.router.policy)
        scheduler_class(serving(p).policy)
