"""Resolve a scenario once into what its replicas are made of.

Catalog look-ups, chip overrides, calibration, precisions, the memory plan and the step model are
worked out here, in one place, and handed on as one typed :class:`Build`: the engine simulates it,
the results read it, and the front ends (``maiasim validate``, ``plan``) ask it whether a
configuration fits, without running anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ScenarioError
from .physics import MemoryPlan, Parallelism, Precisions, StepCostModel, StepModel, plan_memory
from .physics.datacenter import capped, rack_for
from .scenario import Scenario
from .spec.calibration import Calibration
from .spec.hardware import ChipSpec
from .spec.model import ModelSpec


@dataclass(frozen=True)
class Build:
    """A scenario resolved: its chip, model and calibration, and the physics of one replica
    (every replica of a scenario is the same)."""

    scenario: Scenario
    chip: ChipSpec
    model: ModelSpec
    calibration: Calibration
    precisions: Precisions
    parallel: Parallelism
    memory: MemoryPlan
    step: StepCostModel

    @property
    def chips_per_replica(self) -> int:
        """Chips in one replica's tensor x pipeline group."""
        return self.parallel.chips


def build(sc: Scenario, calibration: Calibration | None = None) -> Build:
    """Resolve ``sc`` (raises :class:`~maiasim.errors.ScenarioError` for a precision the chip
    lacks and :class:`~maiasim.errors.DoesNotFit` when the model does not fit)."""
    chip, model = sc.chip_spec(), sc.model_spec()
    chip = capped(chip, rack_for(sc.chip_name, chip, sc.datacenter))  # a rack budget slows it
    calib = calibration or sc.calibration()
    d, s = sc.deployment, sc.deployment.scheduler
    prec = Precisions(sc.precision.weights, sc.precision.activations, sc.precision.kv_cache)
    for what, p in (("weights/activations", prec.gemm), ("activations/kv_cache", prec.attention)):
        if p not in chip.peak_tflops:
            have = ", ".join(sorted(chip.peak_tflops))
            raise ScenarioError(f"precision: {what} need {p} tensor math, which {sc.chip_name} "
                                f"does not support (supported: {have})")
    par = Parallelism(d.tensor_parallel, d.pipeline_parallel)
    mem = plan_memory(chip, model, prec, par, max_batch_tokens=s.max_batch_tokens,
                      max_num_seqs=s.max_num_seqs, hbm_utilization=s.hbm_utilization,
                      block_tokens=s.block_tokens)
    step = StepModel(chip, model, prec, par, calib,
                     max_tokens=max(s.max_batch_tokens, s.max_num_seqs))
    return Build(sc, chip, model, calib, prec, par, mem, step)
