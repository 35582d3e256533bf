"""Resolve a scenario once into what its replicas are made of.

Catalog look-ups, chip overrides, calibration, precisions, the memory plan and the step model are
worked out here, in one place, and handed on as one typed :class:`Build`: the engine simulates it,
the results read it, and the front ends (``maiasim validate``, ``plan``) ask it whether a
configuration fits, without running anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import catalog
from .errors import DoesNotFit, ScenarioError
from .physics import MemoryPlan, Parallelism, Precisions, StepCostModel, StepModel, plan_memory
from .physics.cost import chip_hour_usd
from .physics.datacenter import capped, rack_for
from .physics.power import RackPower
from .physics.speculative import SpeculativeStep, speculative_memory
from .physics.transfer import OffloadPlan, plan_offload
from .scenario import Scenario, Serving, serving
from .scenario.fleet import PoolConfig
from .spec.calibration import Calibration
from .spec.hardware import ChipSpec
from .spec.model import ModelSpec


@dataclass(frozen=True)
class Build:
    """One pool resolved: its chip, model and calibration, and the physics of one replica
    (every replica of a pool is the same)."""

    scenario: Scenario
    pool: PoolConfig
    chip: ChipSpec
    model: ModelSpec
    calibration: Calibration
    precisions: Precisions
    parallel: Parallelism
    memory: MemoryPlan
    step: StepCostModel
    serving: Serving
    chip_hour_usd: float = float("nan")  #: the pool's price per chip-hour (NaN: unpriced)
    cost_source: str = ""  #: where that price came from
    cost_basis: str = ""  #: ``rental`` or ``ownership`` (ownership here at provisioned power)
    rack: RackPower | None = None  #: the chip's racks, power model and PUE
    offload: OffloadPlan | None = None  #: the replica's host tier for swapped KV (None: off)

    @property
    def chips_per_replica(self) -> int:
        """Chips in one replica's tensor x pipeline group."""
        return self.parallel.chips


@dataclass(frozen=True)
class Fleet:
    """A scenario resolved pool by pool, in the scenario's order; replicas are numbered across the
    fleet, pool after pool (``first[i]`` is pool i's first replica)."""

    scenario: Scenario
    pools: tuple[Build, ...]

    @property
    def first(self) -> list[int]:
        """Global index of each pool's first replica."""
        out, n = [], 0
        for b in self.pools:
            out.append(n)
            n += b.pool.replicas
        return out


def build_fleet(sc: Scenario, calibration: Calibration | None = None) -> Fleet:
    """Resolve every pool of ``sc`` (``calibration`` replaces a single-pool scenario's; see
    :func:`build` for the errors)."""
    if calibration is not None and len(sc.pools) != 1:
        sc.pool()  # a clear error: one calibration cannot stand for several pools
    return Fleet(sc, tuple(build_pool(sc, p, calibration) for p in sc.pools))


def build(sc: Scenario, calibration: Calibration | None = None) -> Build:
    """Resolve a single-pool scenario (raises :class:`~maiasim.errors.ScenarioError` for a
    precision the chip lacks and :class:`~maiasim.errors.DoesNotFit` when the model does not
    fit; a fleet of several pools: :func:`build_fleet`)."""
    return build_pool(sc, sc.pool(), calibration)


def build_pool(sc: Scenario, pool: PoolConfig, calibration: Calibration | None = None) -> Build:
    """Resolve one pool of ``sc``."""
    chip, model = pool.chip_spec(), pool.model_spec()
    rack = rack_for(pool.chip_name, chip, sc.datacenter)
    chip = capped(chip, rack)  # a rack power budget slows compute-bound work
    calib = calibration or pool.calibration()
    d, s = pool.deployment, pool.deployment.scheduler
    sv = serving(pool)
    if sv.step_overhead_s is not None:  # the stack's own host time per iteration
        calib = calib.model_copy(update={"iteration_overhead_s": sv.step_overhead_s})
    prec = Precisions(pool.precision.weights, pool.precision.activations, sv.kv_cache,
                      pool.precision.communication)
    where = "precision" if sc.fleet is None else f"pool {pool.name}: precision"
    for what, p in (("weights/activations", prec.gemm), ("activations/kv_cache", prec.attention)):
        if p not in chip.peak_tflops:
            have = ", ".join(sorted(chip.peak_tflops))
            raise ScenarioError(f"{where}: {what} need {p} tensor math, which {pool.chip_name} "
                                f"does not support (supported: {have})")
    par = Parallelism(d.tensor_parallel, d.pipeline_parallel, d.expert_parallel,
                      d.expert_imbalance)
    try:
        mem = plan_memory(chip, model, prec, par, max_batch_tokens=s.max_batch_tokens,
                          max_num_seqs=s.max_num_seqs, hbm_utilization=sv.memory_fraction,
                          block_tokens=s.block_tokens, semantics=sv.memory_semantics,
                          cuda_graph_bytes=sv.cuda_graph_bytes,
                          activation_factor=sv.activation_factor)
    except DoesNotFit as e:
        if sc.fleet is None:
            raise
        raise DoesNotFit(f"pool {pool.name}: {e}") from None
    step = StepModel(chip, model, prec, par, calib,
                     max_tokens=max(s.max_batch_tokens, s.max_num_seqs))
    if d.speculative is not None:
        mem, step = _speculative(sc, pool, chip, model, prec, par, calib, mem)
    usd, basis, source = chip_hour_usd(pool.cost, pool.chip_name, chip, rack=rack)
    ko = d.kv_offload
    try:
        offload = plan_offload(chip, mem.kv_bytes_per_token, par.chips, ko.capacity_gib,
                               ko.bandwidth_bytes_per_s)
    except ValueError as e:
        raise ScenarioError(f"{'' if sc.fleet is None else f'pool {pool.name}: '}{e}") from None
    return Build(sc, pool, chip, model, calib, prec, par, mem, step, sv, usd, source,
                 cost_basis=basis, rack=rack, offload=offload)


def _speculative(sc: Scenario, pool: PoolConfig, chip: ChipSpec, model: ModelSpec,
                 prec: Precisions, par: Parallelism, calib: Calibration,
                 mem: MemoryPlan) -> tuple[MemoryPlan, SpeculativeStep]:
    """The memory plan and step model of a pool with speculative decoding: the target's tables
    cover verification batches of k + 1 tokens per sequence; a draft model runs on the same chips
    and parallelism (EP aside) and takes HBM from the KV cache."""
    spec, s = pool.deployment.speculative, pool.deployment.scheduler
    k = spec.num_speculative_tokens
    width = max(s.max_batch_tokens, s.max_num_seqs * (k + 1))
    target = StepModel(chip, model, prec, par, calib, max_tokens=width)
    draft = draft_step = None
    if spec.draft_model is not None:
        draft = catalog.model(spec.draft_model)
        draft_par = Parallelism(par.tensor, par.pipeline)
        draft_step = StepModel(chip, draft, prec, draft_par, calib, max_tokens=width)
    mem = speculative_memory(mem, k, model, draft, prec, par)
    if mem.kv_capacity_tokens <= mem.per_sequence_tokens:
        where = "" if sc.fleet is None else f"pool {pool.name}: "
        raise DoesNotFit(f"{where}deployment.speculative: the proposer "
                         f"({spec.draft_model or 'mtp'}) leaves no HBM for the KV cache")
    return mem, SpeculativeStep(target, k, spec.acceptance_rate, draft_step)
