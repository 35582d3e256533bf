"""The pools frame: one row per pool, the fleet seen pool by pool (size, price, cost, work,
utilisation, energy, saturation)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .columns import ordered


def pools_frame(builds, replicas: pd.DataFrame, requests: pd.DataFrame,
                pool_cost_usd: np.ndarray, prices: list[tuple[float, str, str]]) -> pd.DataFrame:
    """From the resolved pools, the replicas and requests frames (both with a ``pool`` column),
    each pool's cost over the run and its price (USD per chip-hour, basis, source)."""
    rows = []
    for i, b in enumerate(builds):
        p = b.pool
        rp = replicas[replicas.pool == p.name]
        rows.append({
            "pool": p.name, "role": p.role, "chip": p.chip_name, "model": p.model_name,
            "replicas": p.replicas, "chips": p.chips, "usd_per_chip_hour": prices[i][0],
            "cost_basis": prices[i][1], "cost_source": prices[i][2],
            "cost_usd": float(pool_cost_usd[i]),
            "requests": int((requests.pool == p.name).sum()),
            "output_tokens": int(rp.output_tokens.sum()),
            "prefill_tokens": int(rp.prefill_tokens.sum()),
            "stepping_frac": float(rp.stepping_frac.mean()), "mfu": float(rp.mfu.mean()),
            "mbu": float(rp.mbu.mean()), "kv_mean_frac": float(rp.kv_mean_frac.mean()),
            "kv_peak_frac": float(rp.kv_peak_frac.max()),
            "energy_j": float(rp.energy_j.sum()),
            "saturated_replicas": int(rp.saturated.sum()),
        })
    return pd.DataFrame(rows, columns=ordered("pools", rows[0]))
