"""The fleet in front of the replicas: which pool an arrival goes to, and the KV hand-off from a
prefill pool to a decode pool.

Routing is two-level: a fleet policy picks a pool among those serving the request's model and SLO
class (``fleet.router``), then the pool's own router picks a replica (``router.policy``). A fleet
of one pool skips the first level, so a single-pool scenario runs exactly as before.
"""

from __future__ import annotations

from ..build import Build
from ..physics.transfer import kv_transfer_bytes, path_bandwidth, shared_tier, transfer_time
from .replica import Replica
from .routers import RoutingPolicy


class Pool:
    """One pool at run time: its replicas (numbered across the fleet from ``first``), its router,
    and its count of unfinished requests (the fleet policies' load signal)."""

    def __init__(self, idx: int, b: Build, replicas: list[Replica], router: RoutingPolicy,
                 first: int):
        self.idx, self.build, self.replicas, self.router, self.first = (idx, b, replicas, router,
                                                                         first)
        p = b.pool
        self.name, self.role, self.model = p.name, p.role, p.model_name
        self.n = len(replicas)
        self.outstanding = 0
        s = p.deployment.scheduler
        self.max_tokens, self.chunked = s.max_batch_tokens, b.serving.chunked_prefill
        #: the front end's time outside the engine: per request, and per output token
        self.fe_request = b.serving.front_end_request_s
        self.fe_token = b.serving.front_end_token_s
        self.max_context = b.model.max_context
        self.mem = b.memory
        self.replica_hour_usd = b.chip_hour_usd * b.parallel.chips
        self._prefill_s: dict[int, float] = {}
        self._per_token_s: dict[tuple[int, int], float] = {}
        self.up = [True] * self.n  # replicas serving (False while failed or drained)
        self.n_up = self.n

    def reject_reason(self, prompt: int, output: int) -> str:
        """Why this pool could never serve the request ('' when it can)."""
        if prompt + output > self.max_context:
            return "exceeds_max_context"
        if prompt + output + self.mem.per_sequence_tokens > self.mem.kv_capacity_tokens:
            return "exceeds_kv_capacity"
        if not self.chunked and prompt > self.max_tokens:
            return "prompt_exceeds_max_batch_tokens"
        if not self.n_up:
            return "no_replica_available"
        return ""

    def route(self, prefix: int = -1) -> Replica:
        """The replica the pool's router picks (given the request's ``prefix`` group key when it
        has one and the router routes by it); counts the request as outstanding."""
        self.outstanding += 1
        r = self.router
        i = r.pick_for(prefix) if prefix >= 0 and hasattr(r, "pick_for") else r.pick()
        while not self.up[i]:  # (only with failures on: a router may pick a replica that is down)
            i = r.pick()
        return self.replicas[i]

    def set_up(self, i: int, up: bool) -> None:
        """Replica ``i`` of the pool went down (failed, drained) or serves again."""
        self.up[i] = up
        self.n_up += 1 if up else -1
        self.router.available(i, up)

    def done(self, replica: Replica) -> None:
        self.outstanding -= 1
        self.router.done(replica.idx - self.first)

    def load(self) -> float:
        """Unfinished requests per replica."""
        return self.outstanding / self.n

    def ttft_estimate_s(self, prompt: int) -> float:
        """A router's estimate of TTFT here: the prompt tokens still to prefill ahead of it (the
        mean backlog per replica) and its own, at the prefill rate a step leaves beside the
        replicas' current decoders (with chunked prefill every step carries one token per
        decoder and their attention, so a decode-heavy batch prefills slower); never less than
        the prompt's prefill on an idle replica. An estimate for routing and admission only (it
        reads every replica, so only the policies that need it pay for it); the simulation then
        measures the real TTFT."""
        t = self._prefill_s.get(prompt)
        if t is None:
            t = self._prefill_s[prompt] = self._prefill_time(prompt)
        reps = self.replicas
        ahead = sum(r.backlog for r in reps) / self.n
        dec = int(round(sum(r.n_dec for r in reps) / self.n)) if self.chunked else 0
        return max(t, (ahead + prompt) * self._loaded_per_token_s(dec, prompt))

    def _loaded_per_token_s(self, n_dec: int, ctx: float) -> float:
        """Seconds per prefill token in a full step beside ``n_dec`` decoders of ``ctx`` tokens
        of context each (cached by decoder count and context in 256-token buckets). The
        decoders' context is taken as the arriving prompt's length, not read from the replicas:
        their live context grows inside a fast-forward jump without being booked, and a routing
        input that differed between fast-forward and stepping would make the two modes diverge
        (backlog and decoder count do not change inside a jump)."""
        key = (n_dec, int(ctx) >> 8)
        v = self._per_token_s.get(key)
        if v is None:
            st = self.build.step
            chunk = max(self.max_tokens - n_dec, 1)
            v = self._per_token_s[key] = st.step_time(
                min(chunk + n_dec, self.max_tokens), n_dec, n_dec, n_dec * ctx,
                st.prefill_attention(chunk, 0)[0]) / chunk
        return v

    def _prefill_time(self, prompt: int) -> float:
        """A prompt's prefill alone on an idle replica, in chunks of one step's token budget."""
        st, t, done = self.build.step, 0.0, 0
        while done < prompt:
            c = min(prompt - done, self.max_tokens)
            t += st.step_time(c, int(done + c == prompt), 0, 0, st.prefill_attention(c, done)[0])
            done += c
        return t


class FleetRouter:
    """The fleet policy (``fleet.router``): ``least_load``, ``cost_aware`` or ``spill_over``.

    Ties go to the pool listed first, so a run is deterministic."""

    def __init__(self, policy: str, spill_per_replica: float, admission: str):
        self.policy, self.spill, self.admission = policy, spill_per_replica, admission

    def pick(self, pools: list[Pool], prompt: int, ttft_target_s: float | None) -> Pool | None:
        """The pool for a request among ``pools`` (each able to serve it); None when admission
        control rejects it (``fleet.admission: slo`` and no pool can meet its TTFT target)."""
        if len(pools) == 1 and self.admission == "none":
            return pools[0]
        meets = pools
        if ttft_target_s is not None and (self.admission == "slo" or self.policy == "cost_aware"):
            meets = [p for p in pools if p.ttft_estimate_s(prompt) <= ttft_target_s]
            if not meets and self.admission == "slo":
                return None
        if self.policy == "cost_aware" and meets:
            return min(meets, key=lambda p: (_price(p), p.load(), p.idx))
        if self.policy == "spill_over":
            for p in pools:
                if p.load() < self.spill:
                    return p
        return min(pools, key=lambda p: (p.load(), p.idx))


def _price(p: Pool) -> float:
    """A pool's price per replica-hour for ranking; an unpriced pool ranks last."""
    v = p.replica_hour_usd
    return v if v == v else float("inf")


class Links:
    """The links of a KV hand-off: each prefill replica's egress and each decode replica's
    ingress carry one transfer at a time, first come first served, so transfers that share a
    link queue for it. Reservation by calendar: a transfer starts when both its links are free.

    The path follows placement: chips are racked in fleet order (pool after pool), so two
    replicas of the same chip share the innermost scale-up tier whose domain holds both (a tray,
    an NVLink domain, an Ethernet tier); otherwise the transfer crosses the scale-out network.
    ``path``: ``auto`` (that), ``scale_up`` (the outermost tier, whatever the placement) or
    ``scale_out``."""

    def __init__(self, pools: list[Pool], path: str, scale_out_bytes_per_s: float,
                 scale_out_latency_s: float):
        n = sum(p.n for p in pools)
        self.egress = [0.0] * n
        self.ingress = [0.0] * n
        self.path, self.bw, self.lat = path, scale_out_bytes_per_s, scale_out_latency_s
        self.first_chip = [0] * n  # each replica's first chip in the fleet's racks
        chip = 0
        for p in pools:
            per = p.build.parallel.chips
            for i in range(p.n):
                self.first_chip[p.first + i] = chip
                chip += per
        self._paths: dict[tuple, tuple[float, float]] = {}

    def _path(self, src: Pool, src_replica: int, dst: Pool, dst_replica: int):
        a, b = src.build, dst.build
        same = a.pool.hardware.chip == b.pool.hardware.chip and not (
            a.pool.hardware.chip_overrides or b.pool.hardware.chip_overrides)
        tier = None
        if self.path == "scale_up" or (self.path == "auto" and same):
            tier = len(a.chip.scale_up) - 1 if self.path == "scale_up" else shared_tier(
                a.chip, self.first_chip[src_replica], a.parallel.chips,
                self.first_chip[dst_replica], b.parallel.chips)
        key = (src.idx, dst.idx, tier)
        bw_lat = self._paths.get(key)
        if bw_lat is None:
            bw_lat = self._paths[key] = path_bandwidth(a.chip, b.chip, tier, self.bw, self.lat,
                                                       a.parallel.chips, b.parallel.chips)
        return bw_lat

    def reserve(self, now: float, src: Pool, src_replica: int, dst: Pool, dst_replica: int,
                prompt: int) -> tuple[float, float]:
        """(start, end) of the transfer of a ``prompt``-token context; books both links."""
        bw_lat = self._path(src, src_replica, dst, dst_replica)
        nbytes = kv_transfer_bytes(src.build.model, src.build.precisions.kv_cache, prompt)
        start = max(now, self.egress[src_replica], self.ingress[dst_replica])
        end = start + transfer_time(nbytes, *bw_lat)
        self.egress[src_replica] = self.ingress[dst_replica] = end
        return start, end
