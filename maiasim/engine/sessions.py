"""Multi-turn conversations: closed-loop clients whose next request re-sends the conversation so
far.

Each of a workload's ``concurrency`` clients holds a conversation of ``session.turns`` turns: turn
``j + 1`` is sent when turn ``j`` has completed (after the client's think time) and its prompt is
turn ``j``'s prompt and answer followed by a new message (a draw of ``prompt_tokens``). A replica
that served turn ``j`` keeps its context in its prefix cache under the conversation's key
(:func:`.prefix_cache.session_key`), so turn ``j + 1`` prefills only the new message there. A turn
that does not complete (rejected, dropped) ends its conversation: the client starts a new one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .prefix_cache import session_key
from .records import COMPLETED

if TYPE_CHECKING:  # (annotations only: the cluster imports this module)
    from ..workload.streams import Stream
    from .cluster import _Sim


class Conversations:
    """A closed-loop workload's clients as conversations; requests are drawn in order of issue,
    as a plain closed loop draws them."""

    def __init__(self, sim: _Sim, st: Stream, turns: int):
        self.sim, self.st, self.turns = sim, st, turns
        self.next = 0  # the stream's next request
        self.started = 0  # conversations started so far (their ids)

    def start(self) -> None:
        for _ in range(min(self.st.concurrency, len(self.st.prompt))):
            self.issue(self._new())

    def _new(self) -> list[int]:
        """A client's new conversation: [id, turns done, context tokens]."""
        self.started += 1
        return [self.started - 1, 0, 0]

    def issue(self, conv: list[int]) -> None:
        """Send the conversation's next turn (or, after rejections, a new conversation's)."""
        sim, st = self.sim, self.st
        while self.next < len(st.prompt) and sim.env.now < sim.horizon:
            i = self.next
            self.next += 1
            prompt, output = conv[2] + int(st.prompt[i]), int(st.output[i])
            rid = sim.next_id
            key = session_key(st.workload, conv[0])
            if sim.submit(st.workload, prompt, output,
                          lambda c=conv, p=prompt, o=output, r=rid: self.done(c, p, o, r),
                          key, conv[2]):
                return
            conv = self._new()  # rejected: the conversation ends
            if st.think_time_s > 0:
                sim.env.timeout(st.think_time_s).callbacks.append(lambda _e, c=conv: self.issue(c))
                return

    def done(self, conv: list[int], prompt: int, output: int, rid: int) -> None:
        """A turn ended: the conversation goes on with its context, or a new one starts."""
        if self.sim.rec.requests.status[rid] == COMPLETED and conv[1] + 1 < self.turns:
            conv[1] += 1
            conv[2] = prompt + output
        else:
            conv = self._new()
        if self.st.think_time_s > 0:
            self.sim.env.timeout(self.st.think_time_s).callbacks.append(
                lambda _e, c=conv: self.issue(c))
        else:
            self.issue(conv)
