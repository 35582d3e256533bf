"""Moving KV caches: from a prefill replica to a decode replica (disaggregated serving), and
between a replica's HBM and its host's memory (KV offload).

Pure functions: the bytes a context's KV cache holds, the time a point-to-point transfer takes
over a path of given bandwidth and latency, and a replica's host tier. The engine reserves the
links; this only prices them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..spec.hardware import BYTES_PER_ELEMENT, ChipSpec
from ..spec.model import ModelSpec

__all__ = [
    "OffloadPlan", "kv_transfer_bytes", "path_bandwidth", "plan_offload", "shared_tier",
    "transfer_time",
]


def kv_transfer_bytes(model: ModelSpec, kv_precision: str, tokens: int) -> float:
    """Bytes of ``tokens`` tokens of context in the KV cache of the whole model, each KV head
    (or MLA latent) once: what a decode replica must receive, whatever the two sides' tensor
    parallelism. Sliding-window layers hold at most their window."""
    per_layer = model.kv_elements_per_token_per_layer(1) * BYTES_PER_ELEMENT[kv_precision]
    full = model.full_attention_layers * tokens
    window = model.sliding_window_layers * min(tokens, model.sliding_window or tokens)
    return float(per_layer * (full + window))


def shared_tier(chip: ChipSpec, first_a: int, chips_a: int, first_b: int,
                chips_b: int) -> int | None:
    """The innermost scale-up tier of ``chip`` whose domain holds both replicas, placed on the
    chips ``[first, first + chips)`` of a fleet racked in order (pool after pool, replica after
    replica, each tier's domains filling up in turn), or None when only the scale-out network
    joins them."""
    lo, hi = min(first_a, first_b), max(first_a + chips_a, first_b + chips_b) - 1
    for i, tier in enumerate(chip.scale_up):
        if lo // tier.chips == hi // tier.chips:
            return i
    return None


def path_bandwidth(src: ChipSpec, dst: ChipSpec, tier: int | None, scale_out_bytes_per_s: float,
                   scale_out_latency_s: float, src_chips: int,
                   dst_chips: int) -> tuple[float, float]:
    """(bytes/s, latency s) of the path between a prefill replica of ``src_chips`` chips and a
    decode replica of ``dst_chips``: every chip of a replica sends (or receives) its share, so
    the slower side's aggregate bandwidth bounds the transfer. ``tier``: the scale-up tier both
    replicas share (:func:`shared_tier`; the same chip on both sides), or None for the
    datacenter network at ``scale_out_bytes_per_s`` per chip."""
    if tier is not None:
        a, b = src.scale_up[tier], dst.scale_up[tier]
        return (min(src_chips * a.bandwidth_bytes_per_s, dst_chips * b.bandwidth_bytes_per_s),
                max(a.latency_s, b.latency_s))
    return min(src_chips, dst_chips) * scale_out_bytes_per_s, scale_out_latency_s


def transfer_time(nbytes: float, bandwidth_bytes_per_s: float, latency_s: float) -> float:
    """Seconds to send ``nbytes`` over one link: latency plus size over bandwidth."""
    return latency_s + nbytes / bandwidth_bytes_per_s


@dataclass(frozen=True)
class OffloadPlan:
    """The host tier of one replica's KV cache: how many tokens it holds and what moving one
    token's KV each way costs (every chip moves its own shard over its own host link)."""

    capacity_tokens: int
    seconds_per_token: float


def plan_offload(chip: ChipSpec, kv_bytes_per_token_per_chip: float, chips: int,
                 capacity_gib: float, bandwidth_bytes_per_s: float | None) -> OffloadPlan | None:
    """The replica's host tier (None when ``capacity_gib`` is 0); raises ValueError when no
    bandwidth is known for the chip's host link."""
    if capacity_gib <= 0:
        return None
    bw = bandwidth_bytes_per_s or chip.host_link_bytes_per_s
    if bw is None:
        raise ValueError("deployment.kv_offload: the chip has no published host_link_bytes_per_s; "
                         "set deployment.kv_offload.bandwidth_bytes_per_s")
    tokens = int(capacity_gib * 2**30 // (kv_bytes_per_token_per_chip * chips))
    return OffloadPlan(tokens, kv_bytes_per_token_per_chip / bw)
