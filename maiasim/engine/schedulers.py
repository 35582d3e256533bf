"""The scheduler registry: batch-formation policies by the name a scenario gives
(``deployment.scheduler.policy``, or the serving stack's default).

Built in: ``vllm`` (continuous batching, newest sequence preempted and recomputed),
``max_utilization`` (TensorRT-LLM's packing policy: admits on the prompt and pauses the newest
request when the cache runs out, as vLLM does) and ``guaranteed_no_evict`` (TensorRT-LLM's
default: admits only what can finish without eviction).
"""

from __future__ import annotations

from ..errors import ScenarioError
from .no_evict import GuaranteedNoEvict
from .scheduler import ContinuousBatching, Scheduler

#: scheduler policies by name
SCHEDULERS: dict[str, type] = {
    "vllm": ContinuousBatching,
    "max_utilization": ContinuousBatching,
    "guaranteed_no_evict": GuaranteedNoEvict,
}


def make_scheduler(policy: str, max_batch_tokens: int, max_num_seqs: int,
                   chunked_prefill: bool, watermark: float = 0.0) -> Scheduler:
    """The named policy, configured."""
    return scheduler_class(policy)(max_batch_tokens, max_num_seqs, chunked_prefill, watermark)


def scheduler_class(policy: str) -> type:
    """The scheduler policy called ``policy`` (a ScenarioError names the known ones)."""
    cls = SCHEDULERS.get(policy)
    if cls is None:
        raise ScenarioError(f"deployment.scheduler.policy: {policy!r} is not a scheduler "
                            f"(known: {', '.join(sorted(SCHEDULERS))})")
    return cls
