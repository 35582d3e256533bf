"""Who pays: each pool's cost and energy attributed to the requests that used it.

A pool costs its chips x price for the whole run, busy or idle. That cost is shared out by the
seconds each request used on the pool, estimated from the step model: its prompt tokens at the
pool's prefill cost per token, its generated tokens at the pool's decode cost per token (at the
pool's mean batch and context). A disaggregated request pays the prefill pool for its prompt and
the decode pool for its tokens. A pool nobody used is shared by every request in proportion to
its share of the work, among the requests for the pool's model when there are any (the
capacity was provisioned for them); a run in which no request did any work (all refused) shares
it per request. Only a run without a single request leaves the cost unattributed. The attributed
costs sum to the fleet's cost exactly, so grouping by tenant, SLO class or workload never loses a
dollar.
"""

from __future__ import annotations

import numpy as np

from ..engine.records import Records

__all__ = ["attribute", "pool_costs", "shares"]


def pool_costs(builds, duration_s: float) -> np.ndarray:
    """Each pool's cost over ``duration_s`` (USD; NaN for an unpriced pool)."""
    return np.array([b.pool.chips * b.chip_hour_usd * duration_s / 3600.0 for b in builds])


def shares(rec: Records, builds, request_model: np.ndarray) -> np.ndarray:
    """Each request's share of each pool, a (pools x requests) array whose rows sum to 1 (a row
    of zeros only in a run without requests); ``request_model``: the model each request asked
    for (a pool's ``model_name``). Computed once per result: cost and energy both use it."""
    r = rec.requests
    n, k = len(r.arrival_s), len(builds)
    served = r.first_token_s == r.first_token_s  # its prompt ran (it has a first token)
    prompt = np.where(served, r.prompt, 0).astype(float)
    gen = np.maximum(r.generated - 1, 0).astype(float)  # decode tokens (the first is prefill's)
    pre_pool = np.where(r.prefill_replica >= 0,
                        rec.pool_of_replica[np.maximum(r.prefill_replica, 0)], r.pool)
    weights = np.zeros((k, n))
    for i, b in enumerate(builds):
        t_pre, t_dec = _per_token_s(rec, b, i)
        weights[i] += np.where(pre_pool == i, prompt * t_pre, 0.0)
        weights[i] += np.where(r.pool == i, gen * t_dec, 0.0)
    fleet_w = weights.sum(axis=0)
    for i in range(k):
        w = weights[i]
        if w.sum() <= 0:  # unused: its model's requests, else everyone, pay for it
            same = np.where(request_model == builds[i].pool.model_name, fleet_w, 0.0)
            w = same if same.sum() > 0 else fleet_w
        if w.sum() <= 0:  # nobody did any work (every request refused): shared per request
            w = np.ones(n)
        weights[i] = w / w.sum() if n else w
    return weights


def attribute(pool_shares: np.ndarray, pool_totals: np.ndarray) -> np.ndarray:
    """Per request, its part of ``pool_totals`` (one figure per pool: cost or energy)."""
    return np.asarray(pool_totals, dtype=float) @ pool_shares


def _per_token_s(rec: Records, b, i: int) -> tuple[float, float]:
    """Seconds per prompt token and per decode token on pool ``i``, from its step model at the
    pool's own mean shapes (only their ratio matters: the pool's cost is split, not recomputed)."""
    r, rp = rec.requests, rec.replicas
    mine = rec.pool_of_replica == i
    steps = max(int(rp.steps[mine].sum()), 1)
    batch = max(1, min(int(round(rp.out_tokens[mine].sum() / steps)), b.step.max_tokens))
    on = r.pool == i
    prompt = int(r.prompt[on].mean()) if on.any() else 1024
    chunk = max(1, min(prompt, b.pool.deployment.scheduler.max_batch_tokens))
    st = b.step
    t_pre = st.step_time(chunk, 1, 0, 0, st.prefill_attention(chunk, 0)[0]) / chunk
    ctx = prompt + (int(r.output[on].mean()) // 2 if on.any() else 128)
    t_dec = st.step_time(batch, batch, batch, batch * ctx) / batch
    return t_pre, t_dec
