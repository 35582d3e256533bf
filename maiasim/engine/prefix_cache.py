"""Automatic prefix caching: one replica's cache of shared-prefix KV blocks, least recently used
out first.

As in vLLM's automatic prefix caching (and SGLang's radix cache), the KV blocks of a prompt prefix
stay in HBM after the sequences that computed them end, and a later sequence with the same prefix
reuses them instead of prefilling it again. Only whole blocks are cached (a prefix of ``tokens``
caches ``tokens // block_tokens`` blocks). A cached prefix in use by running sequences counts once
in the replica's KV use; one no sequence uses is free capacity: it is evicted, least recently
released first, whenever the replica needs that memory.

The replica owns KV accounting and calls this cache at four moments: admission (:meth:`acquire`),
the end of a prefill (:meth:`insert`), a sequence leaving the batch (:meth:`release`) and KV
growth (:meth:`evict`).
"""

from __future__ import annotations

from collections import OrderedDict

#: keys from here on are conversations (sessions), below are shared-prefix groups
SESSION = 1 << 40


def prefix_key(workload: int, group: int) -> int:
    """The cache key of a workload's shared-prefix group (groups < 2^24)."""
    return (workload << 24) | group


def session_key(workload: int, conversation: int) -> int:
    """The cache key of one conversation of a workload (conversations < 2^32)."""
    return SESSION + (workload << 32) + conversation


class PrefixCache:
    """The cached prefixes of one replica, by prefix key (workload and group)."""

    __slots__ = ("block", "entries", "idle", "free")

    def __init__(self, block_tokens: int):
        self.block = block_tokens
        self.entries: dict[int, list[int]] = {}  # key -> [cached tokens, sequences using it]
        self.idle: OrderedDict[int, int] = OrderedDict()  # unused entries, least recent first
        self.free = 0  # tokens held by unused entries: evictable, so free capacity

    def cacheable(self, prefix_tokens: int) -> int:
        """Tokens of a prefix that whole blocks hold (what a hit can skip)."""
        return prefix_tokens // self.block * self.block

    def acquire(self, key: int) -> tuple[int, bool]:
        """A sequence with prefix ``key`` is admitted: (cached tokens it reuses, 0 on a miss;
        whether they were unused until now, so that they now count in the replica's KV use)."""
        e = self.entries.get(key)
        if e is None:
            return 0, False
        e[1] += 1
        if e[1] == 1:
            del self.idle[key]
            self.free -= e[0]
            return e[0], True
        return e[0], False

    def insert(self, key: int, tokens: int) -> int:
        """A sequence that missed has computed its prefix: cache its whole blocks (it keeps using
        them) unless another sequence cached this prefix meanwhile; the tokens now shared."""
        size = self.cacheable(tokens)
        if size == 0 or key in self.entries:
            return 0
        self.entries[key] = [size, 1]
        return size

    def release(self, key: int) -> int:
        """A sequence using prefix ``key`` left the batch: the tokens that became unused (the
        entry's size when it was the last user, else 0)."""
        e = self.entries[key]
        e[1] -= 1
        if e[1]:
            return 0
        self.idle[key] = e[0]
        self.free += e[0]
        return e[0]

    def evict(self, room: int) -> None:
        """Evict unused prefixes, least recently released first, until they fit in ``room``
        tokens."""
        idle = self.idle
        while self.free > room:
            key, size = idle.popitem(last=False)
            del self.entries[key]
            self.free -= size


class PrefixSharing:
    """The replica's side of prefix caching: a mixin of :class:`~.replica.Replica` (which owns
    ``cache``, ``kv_used``, ``cap``, ``backlog`` and ``rec``), kept here so the serving loop only
    calls it.

    A sequence's ``shared`` tokens are the part of its context held by a cache entry: they count
    once in ``kv_used`` (through the entry), not in the sequence's own share."""

    def _prefix_hit(self, s, first: bool) -> None:
        """At admission, after KV for the whole prompt was reserved: reuse the cached prefix (the
        prefill starts after it; the reservation shrinks by what other sequences already hold)."""
        tokens, was_idle = self.cache.acquire(s.prefix)
        if first:
            self.rec.requests.cached_tokens[s.rid] = tokens
        if not tokens:
            return
        s.shared = s.done = tokens
        self.backlog -= tokens
        if not was_idle:
            self.kv_used -= tokens  # already counted once, for the sequences using it
        self._evict()

    def _prefix_insert(self, s) -> None:
        """The prompt is prefilled: a sequence that missed caches its prefix's whole blocks
        (a conversation turn caches at its end instead, :meth:`_leave`)."""
        if 0 <= s.prefix < SESSION and not s.shared:
            s.shared = self.cache.insert(s.prefix, s.prefix_tokens)

    def _leave(self, s, ctx: int, completed: bool) -> None:
        """The sequence leaves the batch with ``ctx`` tokens of context: free its own KV and
        release its cached prefix, which stops counting as used when no sequence uses it any
        more. A completed conversation turn first leaves its whole context cached for the next
        turn (vLLM caches decoded blocks too)."""
        if completed and s.prefix >= SESSION and self.cache is not None:
            self._retain(s, ctx)
        self.kv_used -= ctx + self.per_seq - s.shared
        if s.shared:
            self.kv_used -= self.cache.release(s.prefix)
            s.shared = 0

    def _retain(self, s, ctx: int) -> None:
        """Grow (or create) the conversation's cache entry to the turn's whole context: its
        tokens move from the sequence's own KV to the entry."""
        c = self.cache
        size = c.cacheable(ctx)
        if size <= s.shared:
            return
        if s.shared:
            c.entries[s.prefix][0] = size
        elif s.prefix in c.entries:
            return  # (cached by another copy meanwhile)
        else:
            c.entries[s.prefix] = [size, 1]
        s.shared = size

    def _evict(self) -> None:
        """Keep used KV plus unused cached prefixes within capacity."""
        c = self.cache
        if c.free and self.kv_used + c.free > self.cap:
            c.evict(self.cap - self.kv_used)
