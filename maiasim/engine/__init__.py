"""The simulation engine: the only code that knows simpy.

``run(build)`` simulates a resolved scenario and returns its :class:`~.records.Records`;
``check(scenario)`` refuses, without running, what ``run`` would refuse at start.
"""

from ..scenario import Scenario
from .cluster import run
from .routers import ROUTERS, make_router
from .scheduler import SCHEDULERS, make_scheduler

__all__ = ["ROUTERS", "SCHEDULERS", "check", "make_router", "make_scheduler", "run"]


def check(sc: Scenario) -> None:
    """Raise ScenarioError for a routing or scheduling policy the engine does not have."""
    if sc.router.policy not in ROUTERS:
        make_router(sc.router.policy, 1, None)
    s = sc.deployment.scheduler
    make_scheduler(s.policy, s.max_batch_tokens, s.max_num_seqs, s.chunked_prefill)
