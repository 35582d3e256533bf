"""The serving stack resolved: the stack profile's defaults with the scenario's explicit settings
laid over them, in one place, so the memory plan, the step model, the scheduler and the front end
all read the same values."""

from __future__ import annotations

from dataclasses import dataclass

from .. import catalog
from ..spec.stack import StackSpec
from .fleet import PoolConfig

GIB = 2**30


@dataclass(frozen=True)
class Serving:
    """What one replica's serving engine does (see :class:`~maiasim.spec.stack.StackSpec`)."""

    stack: str
    spec: StackSpec
    policy: str
    chunked_prefill: bool
    prefix_caching: bool
    watermark: float
    memory_semantics: str
    memory_fraction: float
    cuda_graph_bytes: float
    activation_factor: float
    kv_cache: str
    step_overhead_s: float | None
    front_end_request_s: float
    front_end_token_s: float


def _given(value, default):
    return default if value is None else value


def serving(pool: PoolConfig) -> Serving:
    """A pool's serving settings (a single-pool scenario: ``sc.pool()``): its
    ``deployment.stack``'s profile, overridden by whatever the pool sets explicitly (scheduler
    policy, chunked prefill, watermark, memory fraction, KV format, front-end times)."""
    d = pool.deployment
    st, s, fe = catalog.stack(d.stack), d.scheduler, d.front_end
    chip = pool.chip_spec()
    fraction = (s.hbm_utilization if s.hbm_utilization is not None
                else st.fraction_for(chip.memory_bytes, d.tensor_parallel * d.pipeline_parallel))
    return Serving(
        stack=d.stack, spec=st,
        policy=_given(s.policy, st.scheduler),
        chunked_prefill=_given(s.chunked_prefill, st.chunked_prefill),
        prefix_caching=_given(s.prefix_caching, st.prefix_caching),
        watermark=_given(s.watermark, st.watermark),
        memory_semantics=st.memory_semantics,
        memory_fraction=fraction,
        cuda_graph_bytes=st.cuda_graph_gib * GIB,
        activation_factor=st.activation_factor,
        kv_cache=_given(pool.precision.kv_cache, st.kv_format(pool.precision.weights)),
        step_overhead_s=st.step_overhead_s,
        front_end_request_s=_given(fe.request_s, st.front_end_request_s),
        front_end_token_s=_given(fe.token_s, st.front_end_token_s),
    )
