"""N+k sizing: how many spare replicas keep enough of a pool up, given its failure rates.

A replica of ``c`` chips is down when any of its chips, HBM stacks or links fails, or a host it
sits on does (``ceil(c / chips_per_node)`` hosts); each outage lasts the component's repair plus
model reload. As an alternating renewal process its steady-state unavailability is
``u = lambda d / (1 + lambda d)`` (``lambda`` its failure rate, ``d`` the rate-weighted mean
outage). Replicas fail independently, so the number down is binomial: ``N + k`` replicas keep at
least ``N`` up with probability ``P(Binomial(N + k, u) <= k)``. Drains are planned and not counted.
"""

from __future__ import annotations

import math

from ..scenario.failures import COMPONENTS, FailuresConfig


def replica_unavailability(cfg: FailuresConfig | None, chips_per_replica: int,
                           chips_per_node: int) -> float:
    """Steady-state share of time one replica is down (``cfg`` None: the published default
    rates, :class:`FailuresConfig`; disabled: 0)."""
    cfg = cfg if cfg is not None else FailuresConfig()
    if not cfg.enabled:
        return 0.0
    hosts = -(-chips_per_replica // chips_per_node)
    counts = dict.fromkeys(COMPONENTS, chips_per_replica) | {"host": hosts}
    rates = {k: cfg.rate(k) * counts[k] / 3600.0 for k in COMPONENTS}
    lam = sum(rates.values())
    if lam <= 0:
        return 0.0
    d = sum(r * cfg.component(k).down_s for k, r in rates.items()) / lam
    return lam * d / (1.0 + lam * d)


def enough_up(n: int, spares: int, u: float) -> float:
    """Probability that at least ``n`` of ``n + spares`` replicas are up."""
    m = n + spares
    if u <= 0:
        return 1.0
    if u >= 1:
        return 0.0
    lu, lv, lm = math.log(u), math.log1p(-u), math.lgamma(m + 1)
    return min(1.0, sum(math.exp(lm - math.lgamma(j + 1) - math.lgamma(m - j + 1) + j * lu
                                 + (m - j) * lv) for j in range(spares + 1)))


def spares_for(n: int, u: float, target: float, most: int = 10_000) -> int:
    """Fewest spares ``k`` with :func:`enough_up` ``(n, k, u) >= target`` (at most ``most``)."""
    k = 0
    while enough_up(n, k, u) < target and k < most:
        k += 1
    return k
