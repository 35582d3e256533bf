"""Moving a request's KV cache from a prefill replica to a decode replica (disaggregated serving).

Pure functions: the bytes a context's KV cache holds, and the time a point-to-point transfer takes
over a path of given bandwidth and latency. The engine reserves the links; this only prices them.
"""

from __future__ import annotations

from ..spec.hardware import BYTES_PER_ELEMENT, ChipSpec
from ..spec.model import ModelSpec

__all__ = ["kv_transfer_bytes", "path_bandwidth", "transfer_time"]


def kv_transfer_bytes(model: ModelSpec, kv_precision: str, tokens: int) -> float:
    """Bytes of ``tokens`` tokens of context in the KV cache of the whole model, each KV head
    (or MLA latent) once: what a decode replica must receive, whatever the two sides' tensor
    parallelism. Sliding-window layers hold at most their window."""
    per_layer = model.kv_elements_per_token_per_layer(1) * BYTES_PER_ELEMENT[kv_precision]
    full = model.full_attention_layers * tokens
    window = model.sliding_window_layers * min(tokens, model.sliding_window or tokens)
    return float(per_layer * (full + window))


def path_bandwidth(src: ChipSpec, dst: ChipSpec, same_chip: bool, path: str,
                   scale_out_bytes_per_s: float, scale_out_latency_s: float,
                   src_chips: int, dst_chips: int) -> tuple[float, float]:
    """(bytes/s, latency s) of the path between a prefill replica of ``src_chips`` chips and a
    decode replica of ``dst_chips``: every chip of a replica sends (or receives) its share, so
    the slower side's aggregate bandwidth bounds the transfer.

    ``path``: ``scale_up`` uses the chip's outermost scale-up tier (both pools in one domain);
    ``scale_out`` the datacenter network at ``scale_out_bytes_per_s`` per chip; ``auto`` the
    scale-up tier when both pools use the same chip, else the scale-out network."""
    if path == "scale_up" or (path == "auto" and same_chip):
        a, b = src.scale_up[-1], dst.scale_up[-1]
        return (min(src_chips * a.bandwidth_bytes_per_s, dst_chips * b.bandwidth_bytes_per_s),
                max(a.latency_s, b.latency_s))
    return min(src_chips, dst_chips) * scale_out_bytes_per_s, scale_out_latency_s


def transfer_time(nbytes: float, bandwidth_bytes_per_s: float, latency_s: float) -> float:
    """Seconds to send ``nbytes`` over one link: latency plus size over bandwidth."""
    return latency_s + nbytes / bandwidth_bytes_per_s
