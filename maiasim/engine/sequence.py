"""A request's state while it lives in a replica: what the scheduler and the replica move between
the queue, the batch and the decode heap (slots only: millions are made in a long run)."""

from __future__ import annotations


class Seq:
    """A request's state while it lives in a replica."""

    __slots__ = ("rid", "prompt", "output", "arrival", "generated", "target", "done", "ctx_base",
                 "finish_step", "first_token", "order", "on_done", "queued", "priority",
                 "handoff", "prefix", "prefix_tokens", "shared")

    def __init__(self, rid: int, prompt: int, output: int, arrival: float, on_done=None,
                 priority: int = 0):
        self.rid, self.prompt, self.output, self.arrival = rid, prompt, output, arrival
        self.generated = 0  # tokens produced before the current (re)admission
        self.target = prompt  # prefill length: the prompt, or prompt + generated after preemption
        self.done = 0  # prefill tokens processed so far
        self.ctx_base = 0  # while decoding: context = ctx_base + replica.k
        self.finish_step = -1  # while decoding: replica.k at which the last token is out
        self.first_token = -1.0
        self.order = 0
        self.on_done = on_done
        self.queued = False  # in the replica's waiting queue
        self.priority = priority  # lower is admitted first
        self.handoff = False  # a prefill pool's sequence: its end hands it to a decode pool
        self.prefix, self.prefix_tokens = -1, 0  # its shared prefix's key (-1: none) and length
        self.shared = 0  # tokens of its context held by a prefix-cache entry (see PrefixSharing)

    def prefilled(self, first_token_s: float) -> Seq:
        """Mark a decode pool's sequence whose prompt was prefilled elsewhere: its first token is
        out and its KV cache arrives whole, so admission starts it decoding at once."""
        self.generated, self.done, self.first_token = 1, self.target, first_token_s
        self.order = -1  # admitted before (in the prefill pool): this queue's waits are logged
        return self
