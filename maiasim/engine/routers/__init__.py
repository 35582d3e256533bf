"""Routing policies: which replica an arriving request joins. O(1) per request.

A policy is a class with ``pick() -> replica index``, ``done(replica)`` (a request routed there
has ended) and ``available(replica, up)`` (it failed or serves again), built as
``Policy(n_replicas, rng)``; one that also has ``pick_for(prefix_key)`` is given the prefix group
of requests that have one. Adding one is a new module in this folder and one line in
:data:`ROUTERS`; the scenario names it in ``router.policy``.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ...errors import ScenarioError
from .least_outstanding import LeastOutstanding
from .prefix_affinity import PrefixAffinity
from .random import RandomChoice
from .round_robin import RoundRobin


class RoutingPolicy(Protocol):
    """Chooses a replica for each arriving request; told when a routed request ends."""

    def pick(self) -> int:
        """The replica for the request arriving now."""
        ...

    def done(self, replica: int) -> None:
        """A request routed to ``replica`` ended (completed, dropped)."""
        ...

    def available(self, replica: int, up: bool) -> None:
        """``replica`` went down (a failure, a drain) or serves again. The pool never takes a
        down replica: a policy may ignore this (it is asked again) or stop picking it."""
        ...


#: routing policies by the name a scenario gives in ``router.policy``
ROUTERS: dict[str, type] = {
    "least_outstanding": LeastOutstanding,
    "round_robin": RoundRobin,
    "random": RandomChoice,
    "prefix_affinity": PrefixAffinity,
}


def router_class(policy: str) -> type:
    """The routing policy called ``policy`` (a ScenarioError names the known ones)."""
    cls = ROUTERS.get(policy)
    if cls is None:
        raise ScenarioError(f"router.policy: {policy!r} is not a routing policy "
                            f"(known: {', '.join(sorted(ROUTERS))})")
    return cls


def make_router(policy: str, n: int, rng: np.random.Generator) -> RoutingPolicy:
    """The named policy over ``n`` replicas."""
    return router_class(policy)(n, rng)
