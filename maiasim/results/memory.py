"""``memory_plan``: where one replica's memory goes, without simulating anything.

A capacity planner's first question is whether the model fits and how many sequences the KV cache
holds; this answers it from the same :class:`~maiasim.physics.MemoryPlan` the engine uses.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ..build import Build, build_fleet
from ..scenario import Scenario, as_scenario
from ..workload.streams import streams

#: the rows of the frame: (name, unit, what it is)
ROWS: tuple[tuple[str, str, str], ...] = (
    ("device_memory", "bytes", "memory the device reports (nvidia-smi / rocm-smi total)"),
    ("engine_budget", "bytes", "what the stack's memory fraction lets the engine use"),
    ("weights", "bytes", "model weights"),
    ("activations", "bytes", "activation peak of the largest step (max_batch_tokens)"),
    ("cuda_graphs", "bytes", "CUDA-graph and runtime reservation"),
    ("kv_cache", "bytes", "KV cache"),
    ("kv_bytes_per_token", "bytes", "KV bytes one token holds"),
    ("kv_capacity_tokens", "tokens", "tokens the KV cache holds (every chip holds its share of "
     "each token, so the count is the same per chip and per replica)"),
    ("mean_sequence_tokens", "tokens", "the workload's mean prompt + output length"),
    ("kv_capacity_sequences", "sequences", "sequences of the mean length (plus the per-sequence "
     "block slack) the KV cache holds at once"),
)


def memory_plan(scenario: Scenario | dict | str | os.PathLike) -> pd.DataFrame:
    """One replica's memory, per chip and per replica: device memory, the engine's budget,
    weights, activations, CUDA-graph reservation, KV cache (bytes), and KV capacity in tokens and
    in sequences of the workload's mean length. Rows are :data:`ROWS`; columns ``per_chip``,
    ``per_replica``, ``unit``; a fleet of several pools adds a ``pool`` index level (the mean
    length is then the whole scenario's). Raises :class:`~maiasim.errors.DoesNotFit` when it does
    not fit."""
    sc = as_scenario(scenario, "memory_plan()")
    fleet = build_fleet(sc)
    lengths = [s.prompt.astype(float) + s.output for s in streams(sc) if len(s.prompt)]
    mean_len = float(np.concatenate(lengths).mean()) if lengths else float("nan")
    frames = [_pool_frame(b, mean_len) for b in fleet.pools]
    if len(frames) == 1:
        return frames[0]
    df = pd.concat(frames, keys=[b.pool.name for b in fleet.pools], names=["pool", "item"])
    df.attrs.update(pools={b.pool.name: f.attrs for b, f in zip(fleet.pools, frames,
                                                                   strict=True)})
    return df


def _pool_frame(b: Build, mean_len: float) -> pd.DataFrame:
    m, chips = b.memory, b.chips_per_replica
    seqs = (m.kv_capacity_tokens // (mean_len + m.per_sequence_tokens)
            if np.isfinite(mean_len) else float("nan"))
    per_chip = {
        "device_memory": m.device_bytes, "engine_budget": m.hbm_usable_bytes,
        "weights": m.weights_bytes, "activations": m.activation_bytes,
        "cuda_graphs": m.cuda_graph_bytes, "kv_cache": m.kv_bytes,
        "kv_bytes_per_token": m.kv_bytes_per_token,
    }
    rows = []
    for name, unit, _ in ROWS:
        if name in per_chip:
            rows.append((name, per_chip[name], per_chip[name] * chips, unit))
        elif name == "kv_capacity_tokens":
            rows.append((name, m.kv_capacity_tokens, m.kv_capacity_tokens, unit))
        elif name == "mean_sequence_tokens":
            rows.append((name, mean_len, mean_len, unit))
        else:
            rows.append((name, seqs, seqs, unit))
    df = pd.DataFrame(rows, columns=["item", "per_chip", "per_replica", "unit"]).set_index("item")
    df.attrs.update(chip=b.pool.chip_name, model=b.pool.model_name, chips_per_replica=chips,
                    semantics=m.semantics, memory_fraction=m.memory_fraction,
                    stack=b.serving.stack, kv_cache=b.precisions.kv_cache,
                    weights_format=b.precisions.weights)
    return df
