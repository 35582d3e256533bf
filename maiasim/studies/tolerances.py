"""What the regression check compares, which way is worse, and by how much a metric may move.

The direction of each summary metric comes from the column registry
(:func:`maiasim.results.columns.better`), so a metric's "better" is decided once for the frames,
the check, the sweeps and the docs. A tolerance is relative (``10%``: of the baseline value) or
absolute (``0.01``: in the metric's unit), or ``off``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from ..results.columns import COLUMNS, better, renamed_note

#: the metrics compared by default and how much each may get worse. The simulation is deterministic
#: (same scenario and seed, same frames), so any change comes from a change of code, calibration or
#: catalog; the tolerances say how large a change must be to count as a regression: a tenth for
#: latency percentiles (p99 moves in steps when one request crosses), a twentieth for throughput
#: and economics, one percentage point of SLO attainment, and no new rejected or dropped request.
DEFAULT_TOLERANCES: dict[str, str] = {
    "output_tok_s": "5%",
    "goodput_req_s": "5%",
    "ttft_p50_s": "10%",
    "ttft_p99_s": "10%",
    "tpot_p50_s": "10%",
    "tpot_p99_s": "10%",
    "e2e_p50_s": "10%",
    "e2e_p99_s": "10%",
    "slo_attainment": "0.01",
    "slo_met": "must stay true",  # True in the baseline must not turn False
    "output_tokens_per_usd": "5%",
    "usd_per_m_output_tok": "5%",
    "output_tokens_per_joule": "5%",
    "rejected": "0",
    "dropped": "0",
    "in_flight": "0",
}

HIGHER_IS_WORSE = "higher is worse"
LOWER_IS_WORSE = "lower is worse"
STAY_TRUE = "must stay true"

#: the registry's ``better`` in the check's words: which change of a metric is a regression
_WORSE = {"higher": LOWER_IS_WORSE, "lower": HIGHER_IS_WORSE, "true": STAY_TRUE}


def direction(metric: str) -> str | None:
    """``"higher is worse"``, ``"lower is worse"``, ``"must stay true"`` or None (not
    comparable), from the column registry: the summary's rating of ``metric``, else another
    frame's (``preemptions``, a count per request and replica). A time the registry does not rate
    (``duration_s``: a longer run is a slower drain) is worse when higher."""
    b = better(metric) or next((c.better for c in COLUMNS if c.name == metric and c.better), None)
    if b is not None:
        return _WORSE[b]
    if metric.endswith("_s"):
        return HIGHER_IS_WORSE
    return None


@dataclass(frozen=True)
class Tolerance:
    """How far a metric may move in its worse direction: ``value`` as a fraction or in its unit."""

    value: float
    relative: bool

    @classmethod
    def parse(cls, text: Any) -> Tolerance:
        """``"10%"`` (relative), ``0.05`` or ``"0.05"`` (absolute); UsageError otherwise."""
        if isinstance(text, Tolerance):
            return text
        if isinstance(text, int | float) and not isinstance(text, bool):
            v, rel = float(text), False
        else:
            s = str(text).strip()
            rel = s.endswith("%")
            try:
                v = float(s[:-1] if rel else s)
            except ValueError:
                raise UsageError(f"tolerance {text!r}: expected a percentage like 10% or an "
                                 "absolute number like 0.05") from None
            v = v / 100.0 if rel else v
        if not v >= 0:  # also rejects NaN
            raise UsageError(f"tolerance {text!r} must be >= 0")
        return cls(v, rel)

    def __str__(self) -> str:
        return f"{self.value * 100:g}%" if self.relative else f"{self.value:g}"


def parse_tolerances(items: Any) -> dict[str, Tolerance | None]:
    """``["ttft_p99_s=10%,output_tokens_per_usd=5%", "e2e_p99_s=off"]`` or a dict ->
    ``{metric: Tolerance or None}``, as ``--tolerance`` gives them.

    None (``off``) drops a default metric from the comparison."""
    pairs: list[tuple[str, Any]] = []
    if isinstance(items, dict):
        pairs = list(items.items())
    else:
        for item in items or []:
            for part in str(item).split(","):
                part = part.strip()
                if not part:
                    continue
                if "=" not in part:
                    raise UsageError(f"--tolerance {part!r}: expected metric=10% or "
                                     "metric=0.05, e.g. ttft_p99_s=10%")
                k, v = part.split("=", 1)
                pairs.append((k.strip(), v.strip()))
    out: dict[str, Tolerance | None] = {}
    for metric, v in pairs:
        d = direction(metric)
        if d is None:
            known = ", ".join(sorted(DEFAULT_TOLERANCES))
            raise UsageError(f"--tolerance {metric!r}: not a comparable summary metric"
                             f"{renamed_note([metric])} (e.g. {known})")
        if v is None or str(v).strip().lower() in ("off", "none", "skip"):
            out[metric] = None
        elif metric == "slo_met":
            raise UsageError("slo_met takes no tolerance (it must stay true); use slo_met=off to "
                             "skip it")
        else:
            out[metric] = Tolerance.parse(v)
    return out


def tolerances(overrides: Any = None) -> dict[str, Tolerance | str | None]:
    """The defaults with ``overrides`` applied (``off`` removes a metric): what a check
    compares."""
    tol: dict[str, Tolerance | str | None] = {
        m: (STAY_TRUE if m == "slo_met" else Tolerance.parse(v))
        for m, v in DEFAULT_TOLERANCES.items()}
    tol.update(parse_tolerances(overrides) if overrides else {})
    return tol
