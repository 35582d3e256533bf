"""Failures: components that fail at published fleet rates, their repair, and planned drains.

The defaults are the field failure rates of Meta's Llama 3 405B pre-training run (16,384 H100 GPUs
in 2,048 eight-GPU hosts over 54 days: 419 unexpected interruptions, of which a faulty GPU 148,
HBM3 72, the network 35 and a host CPU 2; HARDWARE_FACTS §4d, [LLAMA3-REL]) turned into rates per
component-hour, and the recovery (~2.2 h) and model-reload (up to ~10 min) times of the published
synthesis [REL-SYNTH]. A serving fleet has no other published breakdown, so training-fleet rates
stand in for it (an assumption, stated in docs/engine.md).
"""

from __future__ import annotations

from pydantic import Field, model_validator

from ..spec.hardware import Float, Int
from .fields import ConfigModel

__all__ = ["COMPONENTS", "DEFAULT_RATES", "ComponentFailures", "DrainConfig", "FailuresConfig"]

#: component kinds that fail, in the order a failure draw considers them
COMPONENTS = ("chip", "hbm", "host", "link")

#: GPU-hours of the Llama 3 run: 16,384 GPUs x 54 days x 24 h ([LLAMA3-REL])
LLAMA3_GPU_HOURS = 16_384 * 54 * 24
#: host-hours of the same run (2,048 hosts of 8 GPUs)
LLAMA3_HOST_HOURS = 2_048 * 54 * 24
#: recovery after a failure: ~2.2 h ([REL-SYNTH], low confidence)
RECOVERY_S = 2.2 * 3600
#: model reload before a repaired replica serves again: up to ~10 min ([REL-SYNTH])
RELOAD_S = 600.0

_MAX_RATE = 3600.0  # per component-hour: one failure a second, far beyond any drill


class ComponentFailures(ConfigModel):
    """How often one kind of component fails, and how long until its replicas serve again."""

    rate_per_hour: Float | None = Field(default=None, ge=0, le=_MAX_RATE, description=(
        "Failures per component-hour (chip, HBM and link: per chip; host: per host, a tray of "
        "the chip's `chips_per_node`). At most 3600. Give this or `mtbf_hours`; neither: the "
        "component's published rate (see `failures.chip`, `hbm`, `host`, `link`)."))
    mtbf_hours: Float | None = Field(default=None, gt=0, le=1e12, description=(
        "Mean hours between failures of one component (1 / rate_per_hour)."))
    repair_s: Float = Field(default=RECOVERY_S, ge=0, le=1e8, description=(
        "Seconds from the failure until the component is repaired or replaced. Default 7,920 s: "
        "recovery ~2.2 h (HARDWARE_FACTS §4d, [REL-SYNTH], low confidence; a physical "
        "replacement without a hot spare takes 3-5 days)."))
    reload_s: Float = Field(default=RELOAD_S, ge=0, le=1e6, description=(
        "Seconds to reload the model onto the repaired replica before it serves again. Default "
        "600 s: 'model reload up to ~10 min' (HARDWARE_FACTS §4d, [REL-SYNTH])."))

    @model_validator(mode="after")
    def _one_rate(self):
        if self.rate_per_hour is not None and self.mtbf_hours is not None:
            raise ValueError("give rate_per_hour or mtbf_hours, not both "
                             f"(got {self.rate_per_hour:g} and {self.mtbf_hours:g})")
        return self

    def rate(self, default: float) -> float:
        """Failures per component-hour: as given (or 1 / ``mtbf_hours``), else ``default``."""
        if self.mtbf_hours is not None:
            return 1.0 / self.mtbf_hours
        return self.rate_per_hour if self.rate_per_hour is not None else default

    @property
    def down_s(self) -> float:
        """Seconds a failure keeps its replicas out: repair, then model reload."""
        return self.repair_s + self.reload_s


#: the published rates per component-hour, used where a component's rate is not given
#: ([LLAMA3-REL]: faulty GPU 148, HBM3 72, CPU 2, network 35 of 419 unexpected interruptions)
DEFAULT_RATES = {"chip": 148 / LLAMA3_GPU_HOURS, "hbm": 72 / LLAMA3_GPU_HOURS,
                 "host": 2 / LLAMA3_HOST_HOURS, "link": 35 / LLAMA3_GPU_HOURS}


class DrainConfig(ConfigModel):
    """A planned drain (maintenance): replicas taken out of service at a set time for a set
    duration. Their in-flight requests are moved to other replicas as after a failure."""

    at_s: Float = Field(ge=0, le=1e7, description="When the drain starts (s).")
    duration_s: Float = Field(gt=0, le=1e8, description=(
        "How long the drained replicas stay out, model reload included (s)."))
    pool: str | None = Field(default=None, max_length=64, description=(
        "The pool drained (its name; a single-pool scenario's is its chip's); default: every "
        "pool."))
    replicas: tuple[Int, ...] | None = Field(default=None, max_length=100_000, description=(
        "Replica indices within the pool to drain; default: the first `fraction` of them."))
    fraction: Float = Field(default=1.0, gt=0, le=1, description=(
        "Share of the pool's replicas drained (rounded up), when `replicas` is not given."))

    @model_validator(mode="after")
    def _indices(self):
        if self.replicas is not None and any(i < 0 for i in self.replicas):
            raise ValueError(f"replicas: indices must be >= 0, got {list(self.replicas)}")
        return self


class FailuresConfig(ConfigModel):
    """Component failures at published fleet rates, repairs, planned drains and retries.

    A chip, HBM or link failure takes down the replica that uses it; a host failure takes down
    every replica with a chip in that host (tray). Requests running or queued on a replica that
    goes down lose their KV cache and are retried on another replica of the pool (recomputing
    their prompt and the tokens generated so far) up to `max_retries` times, else dropped."""

    enabled: bool = Field(default=True, description=(
        "false: no failures and no drains (the run is exactly the failure-free one)."))
    chip: ComponentFailures = Field(
        default=ComponentFailures(), description=(
            "Chip (GPU die) failures, per chip-hour. Default 148 / 21,233,664 GPU-hours = "
            "6.97e-6 (MTBF ~16 years): 'faulty GPU 148' of Llama 3's 419 unexpected "
            "interruptions on 16,384 H100 in 54 days (HARDWARE_FACTS §4d, [LLAMA3-REL])."))
    hbm: ComponentFailures = Field(
        default=ComponentFailures(), description=(
            "HBM failures, per chip-hour. Default 72 / 21,233,664 = 3.39e-6: 'HBM3 72' of the "
            "same run ([LLAMA3-REL]); Delta saw H100 memory errors 3.2x as often as A100's "
            "([DELTA-SC25])."))
    host: ComponentFailures = Field(
        default=ComponentFailures(), description=(
            "Host (tray: CPU, board, power) failures, per host-hour; a host holds the chip's "
            "`chips_per_node` chips. Default 2 / 2,654,208 host-hours = 7.5e-7: 'CPU 2' of the "
            "same run ([LLAMA3-REL]; its other host causes are not in HARDWARE_FACTS)."))
    link: ComponentFailures = Field(
        default=ComponentFailures(), description=(
            "Network link (NIC, cable, switch port) failures, per chip-hour. Default 35 / "
            "21,233,664 = 1.65e-6: 'network 35' of the same run ([LLAMA3-REL])."))
    drains: tuple[DrainConfig, ...] = Field(default=(), max_length=10_000, description=(
        "Planned drains (maintenance): time, pool, replicas or fraction, duration."))
    max_retries: Int = Field(default=2, ge=0, le=100, description=(
        "Times a request that lost its replica is retried on another one before it is dropped "
        "(reason `failed_retries_exhausted`)."))

    def component(self, name: str) -> ComponentFailures:
        """The settings of component ``name`` (one of :data:`COMPONENTS`)."""
        return getattr(self, name)

    def rate(self, name: str) -> float:
        """Failures per component-hour of component ``name``: as given, else the published one
        (:data:`DEFAULT_RATES`)."""
        return self.component(name).rate(DEFAULT_RATES[name])
