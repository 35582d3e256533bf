"""Which calibration factors a fit may change, where it searches for each, and how it sets them.

The factors themselves are the fields of :class:`~maiasim.spec.calibration.Calibration`: that class
is the one registry of names, validation bounds and meanings. This module adds only what a fit
needs on top of it:

- :data:`SEARCH`: a plausible range for each factor (a prior, much narrower than what validation
  allows: a per-kernel latency may legally be up to a second, but a fit that wanders there has
  found a unit mistake, not a chip), and whether to search it on a log scale (quantities that
  span decades);
- :data:`DEFAULT_PARAMS`: the factors each kind of measurement pins down by default.

A factor is named by its field, or ``gemm_peak_fraction.<precision>`` for one entry of the GEMM
plateau table. ``tests/test_calibration.py`` checks that :data:`SEARCH` covers exactly the
numeric fields of ``Calibration`` and that every search range is a valid value of its field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import NoneType, UnionType
from typing import Annotated, Union, get_args, get_origin

from ..spec.calibration import Calibration
from ..spec.hardware import Precision

#: The per-precision table of GEMM plateaus; fitted one precision at a time.
GEMM_PLATEAU = "gemm_peak_fraction"

#: Search range (low, high, log scale) of each factor, by ``Calibration`` field. The GEMM plateau
#: range applies to each precision's entry.
SEARCH: dict[str, tuple[float, float, bool]] = {
    GEMM_PLATEAU: (0.2, 1.0, False),
    "gemm_half_tokens": (0.5, 2048.0, True),
    "hbm_fraction": (0.2, 1.0, False),
    "elementwise_fraction": (0.05, 1.0, False),
    "elementwise_latency_s": (1e-7, 2e-4, True),
    "gemm_latency_s": (1e-7, 1e-4, True),
    "attention_prefill_fraction": (0.02, 1.0, True),
    "attention_decode_hbm_fraction": (0.05, 1.0, False),
    "allreduce_fraction": (0.1, 1.5, False),
    "alltoall_fraction": (0.05, 1.5, False),
    "collective_overhead_s": (1e-7, 2e-4, True),
    "collective_half_bytes": (1.0, 1e8, True),
    "iteration_overhead_s": (1e-5, 0.1, True),
    "per_sequence_overhead_s": (1e-7, 1e-2, True),
    "layer_launch_s": (1e-6, 2e-3, True),
    "prefill_layer_launch_s": (1e-6, 2e-3, True),
    "allreduce_knee_tokens": (128.0, 65536.0, True),
    "allreduce_knee_slowdown": (0.0, 10.0, False),
    "allreduce_knee_width": (0.35, 2.0, True),
    "collective_rank_latency_s": (1e-8, 1e-4, True),
    "per_token_overhead_s": (1e-9, 1e-3, True),
}

#: Optional factors whose unset value (``None``) means "the same as another factor": a fit starts
#: from the value in effect, which the ``Calibration`` property of that name gives.
EFFECTIVE = {"prefill_layer_launch_s": "prefill_launch_s",
             "elementwise_fraction": "elementwise_hbm_fraction"}


@dataclass(frozen=True)
class Param:
    """One fitted factor and the box the optimiser keeps it in.

    ``log``: search on a log scale, so a range spanning decades is explored evenly."""

    name: str
    lo: float
    hi: float
    log: bool = False

    @property
    def field(self) -> str:
        """The ``Calibration`` field this factor lives in."""
        return self.name.split(".", 1)[0]

    @property
    def description(self) -> str:
        """What the factor means, from its ``Calibration`` field (empty if it has none)."""
        return Calibration.model_fields[self.field].description or ""


def _is_float(t: object) -> bool:
    """``float``, possibly ``Annotated`` with validators, possibly optional (``| None``)."""
    if get_origin(t) in (Union, UnionType):
        args = [a for a in get_args(t) if a is not NoneType]
        return len(args) == 1 and _is_float(args[0])
    if get_origin(t) is Annotated:
        t = get_args(t)[0]
    return t is float


def factor_fields() -> list[str]:
    """The numeric factors of ``Calibration`` (float fields and the GEMM plateau table), in
    declaration order: everything a fit could change."""
    return [name for name, info in Calibration.model_fields.items()
            if name == GEMM_PLATEAU or _is_float(info.annotation)]


def _params() -> dict[str, Param]:
    out: dict[str, Param] = {}
    for name in factor_fields():
        if name not in SEARCH:
            continue  # not fittable until it is given a search range (a test insists on one)
        lo, hi, log = SEARCH[name]
        if name == GEMM_PLATEAU:
            for prec in get_args(Precision):
                p = Param(f"{name}.{prec}", lo, hi, log)
                out[p.name] = p
        else:
            out[name] = Param(name, lo, hi, log)
    return out


#: Every fittable factor by name (``gemm_peak_fraction.bf16`` etc. for the plateau table).
PARAMS: dict[str, Param] = _params()

#: Factors each kind of measurement fits unless told otherwise; ``{prec}`` is the operand precision.
DEFAULT_PARAMS: dict[str, tuple[str, ...]] = {
    "gemm": ("gemm_peak_fraction.{prec}", "gemm_half_tokens", "hbm_fraction", "gemm_latency_s"),
    "matmul": ("gemm_peak_fraction.{prec}", "gemm_half_tokens", "hbm_fraction", "gemm_latency_s"),
    "allreduce": ("allreduce_fraction", "collective_overhead_s"),
    "elementwise": ("elementwise_fraction", "elementwise_latency_s"),
    "iteration": ("iteration_overhead_s", "layer_launch_s", "attention_prefill_fraction",
                  "hbm_fraction", "gemm_peak_fraction.{prec}"),
}

#: The kinds of measurement a fit understands (see :mod:`maiasim.calibrate.fit`).
KINDS: tuple[str, ...] = tuple(DEFAULT_PARAMS)


def param_names(kind: str, precision: str = "bf16",
                names: Sequence[str] | None = None) -> list[str]:
    """The factors a fit of ``kind`` changes: ``names`` or the kind's defaults, with ``{prec}``
    filled in. An unknown name is a ``ValueError`` listing the fittable ones."""
    out = [n.format(prec=precision) for n in (names or DEFAULT_PARAMS[kind])]
    for n in out:
        if n not in PARAMS:
            raise ValueError(f"cannot fit {n!r} (fittable: {', '.join(PARAMS)})")
    return out


def get_param(calib: Calibration, name: str) -> float:
    """The value of factor ``name`` in effect in ``calib`` (an unset optional factor reads as the
    factor it defaults to)."""
    if name.startswith(GEMM_PLATEAU + "."):
        return calib.gemm_fraction(name.split(".", 1)[1])
    if name in EFFECTIVE:
        return getattr(calib, EFFECTIVE[name])
    return float(getattr(calib, name))


def set_params(calib: Calibration, values: Mapping[str, float]) -> Calibration:
    """A copy of ``calib`` with the given factors changed, validated like any calibration (a
    combination the validator rejects raises ``ValueError``)."""
    data = calib.model_dump()
    for name, v in values.items():
        if name.startswith(GEMM_PLATEAU + "."):
            data[GEMM_PLATEAU] = {**data[GEMM_PLATEAU], name.split(".", 1)[1]: float(v)}
        else:
            data[name] = float(v)
    return Calibration.model_validate(data)
