"""Generate ``docs/scenario-reference.md`` from the pydantic schema in :mod:`maiasim.scenario.schema`.

    python -m maiasim.schema_doc            # (re)write docs/scenario-reference.md
    python -m maiasim.schema_doc --check    # exit 1 if the committed file is out of date
    python -m maiasim.schema_doc -o PATH    # write somewhere else

Every key is listed with its dotted path, type, default, allowed values, constraints and description.
Descriptions come from, in order: ``Field(description=...)``; a ``#:`` comment on the line(s) just
above the field in its class; the :data:`DESCRIPTIONS` table below. Nothing here runs a simulation.
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from .scenario.schema import Scenario
from .spec.calibration import SAMPLED_FACTORS, Calibration
from .spec.hardware import ChipSpec
from .spec.model import ModelSpec

#: Descriptions for fields that carry none in the schema, keyed ``ClassName.field``. A description
#: given in the schema itself (``Field(description=...)`` or a ``#:`` comment) takes precedence.
DESCRIPTIONS: dict[str, str] = {
    # ---- scenario
    "Scenario.name": "Name of the scenario; shown in summaries, plot titles and CLI output.",
    "Scenario.description": "Free text describing the scenario.",
    "Scenario.seed": "Seed of every random stream (arrivals, lengths, router); the same scenario and seed give identical frames.",
    "Scenario.horizon_s": "Simulated seconds during which requests arrive. In-flight work then drains unless `engine.drain` is false.",
    "Scenario.hardware": "Which chip and how many.",
    "Scenario.model": "A catalog model name (`maiasim catalog models`) or an inline model spec (see *Inline model spec*).",
    "Scenario.precision": "Numeric formats of weights, activations and KV cache.",
    "Scenario.deployment": "How the chips are cut into model replicas, and each replica's scheduler.",
    "Scenario.router": "How arrivals are assigned to replicas.",
    "Scenario.workload": "One or more request streams sharing the fleet (at least one).",
    "Scenario.cost": "Price of a chip-hour: a rental price or an owner's TCO. When neither is given, the catalog price is used if any, else cost is NaN.",
    "Scenario.engine": "Simulation-engine switches.",
    "Scenario.uncertainty": "Calibration sampling for uncertainty bands.",
    "Hardware.chip": "A catalog chip name (`maiasim catalog chips`) or an inline chip spec (see *Inline chip spec*).",
    "PrecisionCfg.weights": "Format of the stored weights; sets weight bytes and, with activations, the GEMM precision (the wider of the two).",
    "PrecisionCfg.activations": "Format of activations; GEMMs run at the wider of weights and activations, attention at the wider of activations and KV cache.",
    "PrecisionCfg.kv_cache": "Format of the KV cache; sets KV bytes per token (capacity and decode traffic).",
    "Scheduler.max_batch_tokens": "Token budget of one engine iteration (decode tokens + prefill chunk tokens). Without chunked prefill it also caps a prompt's length.",
    "Scheduler.max_num_seqs": "Most sequences (prefilling + decoding) admitted in a replica at once.",
    "Scheduler.chunked_prefill": "Split prompts into chunks that share iterations with decodes (vLLM v1). When false, whole prompts run in prefill-only iterations that take priority (vLLM v0).",
    "Scheduler.block_tokens": "Paged-KV block size in tokens; each sequence reserves one extra block of slack.",
    "Scheduler.hbm_utilization": "Fraction of HBM the serving engine may use (weights + activations + KV cache), like vLLM's gpu_memory_utilization.",
    "Deployment.tensor_parallel": "Chips per pipeline stage that split every layer (tensor parallelism).",
    "Deployment.pipeline_parallel": "Pipeline stages per replica (layers split across stages, no micro-batch overlap).",
    "Deployment.replicas": "Number of model replicas. Optional when `hardware.chips` is given (then chips / (tensor_parallel x pipeline_parallel)).",
    "Deployment.scheduler": "The replica's continuous-batching scheduler.",
    "Router.policy": "`least_outstanding`: the replica with fewest unfinished requests (ties: lowest index); `round_robin`: in turn; `random`: uniform from the `router` random stream.",
    "Workload.name": "Unique name of the workload; rows of `Result.summary` and `Result.requests` carry it. `all` is reserved.",
    "Workload.arrival": "When requests arrive; a mapping whose `type` selects one of the arrival types below.",
    "Workload.prompt_tokens": "Prompt length distribution (see *Length distributions*). Required unless `arrival.type` is `trace` (then the trace's ContextTokens).",
    "Workload.output_tokens": "Output length distribution, same types as `prompt_tokens`. Required unless `arrival.type` is `trace` (then the trace's GeneratedTokens).",
    "Workload.slo": "Latency targets of this workload; used for SLO attainment and goodput.",
    "Poisson.rate_per_s": "Mean arrival rate (requests per second); exponential inter-arrival gaps.",
    "Gamma.rate_per_s": "Mean arrival rate (requests per second); gamma inter-arrival gaps with shape 1/cv^2.",
    "Burst.count": "Number of requests, all arriving at t = 0.",
    "ClosedLoop.concurrency": "Number of clients; each sends its next request when its previous one ends (completes or is rejected).",
    "ClosedLoop.count": "Total requests over all clients; no new request is sent after the horizon.",
    "ClosedLoop.think_time_s": "Pause between a client's response and its next request.",
    "Fixed.value": "Every request has this many tokens.",
    "Uniform.low": "Smallest length (inclusive).",
    "Uniform.high": "Largest length (inclusive); must be >= low.",
    "Lognormal.median": "Median length (exp of the underlying normal's mean).",
    "Lognormal.sigma": "Standard deviation of the underlying normal (0 = always the median).",
    "Lognormal.max": "Draws are rounded and clipped to at most this.",
    "Lognormal.min": "Draws are rounded and clipped to at least this.",
    "SLO.ttft_p99_s": "Target time to first token (s). A request meets it when its TTFT is at most this; the workload's `slo_met` compares the p99.",
    "SLO.tpot_p99_s": "Target time per output token after the first (s); single-token requests have no TPOT and always meet it.",
    "SLO.e2e_p99_s": "Target end-to-end latency, arrival to last token (s).",
    "TCO.lifetime_years": "Straight-line depreciation period.",
    "TCO.electricity_usd_per_kwh": "Electricity price; the chip draws its TDP for every hour billed.",
    "TCO.pue": "Facility power usage effectiveness (multiplies chip power).",
    "Cost.chip_hour_usd": "Price of one chip for one hour, applied to every chip for the whole simulated duration (including drain).",
    "Cost.tco": "Owner's cost instead of a rental price (give one or the other).",
    "Engine.fast_forward": "Advance a decode-only batch to its next completion in one closed-form event. Exact: `false` (token-by-token) gives the same frames up to float rounding, only slower.",
    "Engine.drain": "After the horizon, keep serving until every admitted request ends. When false the run stops at the horizon and unfinished requests are `in_flight`.",
    "Engine.timeline_bin_s": "Width of `Result.timeline` bins; default about 1/120 of the run, rounded to 1, 2 or 5 x 10^n s.",
    "Uncertainty.samples": "Number of calibration draws (from the calibration's `ranges`) for uncertainty runs: `simulate` runs this many extra draws and adds `_p5/_p50/_p95` columns to the summary; 0 = off.",
    # ---- chip spec
    "ChipSpec.vendor": "Maker of the chip.",
    "ChipSpec.description": "Free text; also used as the chip's display name when inline.",
    "ChipSpec.peak_tflops": "Dense (no sparsity) tensor TFLOPS per precision. A scenario may only use precisions listed here.",
    "ChipSpec.hbm_bytes": "HBM capacity per chip (bytes).",
    "ChipSpec.hbm_bandwidth_bytes_per_s": "Peak HBM bandwidth per chip (bytes/s).",
    "ChipSpec.sram_bytes": "On-chip SRAM (bytes); informational, not used by the iteration model.",
    "ChipSpec.tdp_w": "Board power (W) for energy and TCO; without it energy is NaN.",
    "ChipSpec.idle_power_fraction": "Fraction of TDP drawn while idle; power is linear between idle and TDP in busy time.",
    "ChipSpec.chips_per_node": "Chips per node or tray; informational.",
    "ChipSpec.scale_up": "The scale-up network as tiers, innermost first; chips per tier must not shrink outward.",
    "ChipSpec.price": "Catalog prices used when the scenario has no `cost`.",
    "ChipSpec.sources": "Where each figure comes from (free text per key).",
    "NetworkTier.name": "Name of the tier (e.g. tray, nvlink, ethernet-t0).",
    "NetworkTier.chips": "How many chips one domain of this tier spans.",
    "NetworkTier.bandwidth_bytes_per_s": "Per chip, per direction: what one chip can push into this tier (a `full_mesh` splits it evenly over its links to the other chips).",
    "NetworkTier.latency_s": "Latency per hop.",
    "NetworkTier.oversubscription": "Divides the tier's bandwidth (3.0 = 1:3 oversubscribed).",
    "NetworkTier.topology": "`full_mesh`: one hop; `switched`: ceil(log2 fan-out) hops; `torus`: fan-out - 1 hops (ring).",
    "NetworkTier.pooled": "A switched tier whose ports belong to the inner tiers' NIC and reach their peers too: collectives use the pooled links concurrently instead of tier after tier (Maia 200's Ethernet T0).",
    "Price.chip_hour_usd": "Rental price per chip-hour.",
    "Price.capex_usd": "Purchase price per chip, all-in; turned into a chip-hour cost with default TCO terms.",
    # ---- model spec
    "ModelSpec.hf_id": "Hugging Face id; also the display name when inline.",
    "ModelSpec.layers": "Transformer layers.",
    "ModelSpec.hidden_size": "Model width.",
    "ModelSpec.heads": "Attention (query) heads.",
    "ModelSpec.kv_heads": "Key/value heads (grouped-query attention); heads must be a multiple.",
    "ModelSpec.head_dim": "Dimension of one attention head.",
    "ModelSpec.ffn_size": "Dense MLP intermediate size.",
    "ModelSpec.vocab_size": "Vocabulary size (embedding and LM head).",
    "ModelSpec.max_context": "Longest prompt + output; longer requests are rejected (`exceeds_max_context`).",
    "ModelSpec.gated_mlp": "Three MLP matrices (SwiGLU) instead of two.",
    "ModelSpec.tied_embeddings": "Input embedding and LM head share weights.",
    "ModelSpec.experts": "Routed experts per MoE layer (0 = dense model).",
    "ModelSpec.active_experts": "Experts each token is routed to (top-k).",
    "ModelSpec.expert_ffn_size": "Intermediate size of one expert.",
    "ModelSpec.shared_experts": "Always-active experts per MoE layer.",
    "ModelSpec.dense_layers": "Leading layers with a dense MLP in a MoE model.",
    "ModelSpec.kv_lora_rank": "MLA latent rank (DeepSeek); > 0 turns on multi-head latent attention.",
    "ModelSpec.q_lora_rank": "MLA query low-rank dimension (0 = full-rank query projection).",
    "ModelSpec.qk_rope_head_dim": "MLA rotary part of each query/key head.",
    "ModelSpec.qk_nope_head_dim": "MLA non-rotary part of each query/key head.",
    "ModelSpec.v_head_dim": "MLA value head dimension.",
    "ModelSpec.sliding_window": "Window (tokens) of sliding-window attention layers.",
    "ModelSpec.sliding_window_layers": "How many layers use sliding-window attention.",
    "ModelSpec.source": "Where the config comes from.",
    # ---- calibration
    "Calibration.chip": "Chip this calibration belongs to.",
    "Calibration.alltoall_fraction": "All-to-all bandwidth as a fraction of link bandwidth.",
    "Calibration.ranges": "(low, high) per factor for uncertainty sampling; factors: "
    + ", ".join(f"`{f}`" for f in SAMPLED_FACTORS) + ".",
    "Calibration.fitted_on": "What measurements the factors were fitted to.",
    "Calibration.sources": "Where each factor comes from (free text per key).",
}

#: Extra notes shown under a section's heading, keyed by class name (after the class docstring).
NOTES: dict[str, str] = {
    "TraceArrival": "Replays a CSV in the Azure LLM inference trace format. A relative `path` is relative to "
                    "the scenario file; `azure:conv` and `azure:code` are the bundled Azure traces (Patel et al., "
                    "Splitwise, ISCA 2024; CC-BY 4.0). Only requests arriving before `horizon_s` (after "
                    "`start_s` and `time_scale`) are used. `prompt_tokens`/`output_tokens` may be left out: the "
                    "trace's own lengths are then used, request by request.",
    "TraceLengths": "With `path` left out (allowed only when the arrival is a trace) the arrival trace's own "
                    "lengths are used in order. With a `path`, lengths are resampled from that trace with one "
                    "shared index stream, so a request's prompt and output stay paired.",
    "ClosedLoop": "Closed-loop clients start at t = 0; a rejected request ends at once and the client moves on.",
}

INTRO = """\
A scenario is one YAML file (or a dict given to `maiasim.from_dict`). It is validated into frozen
pydantic models (`maiasim/scenario/schema.py`); a mistake gives one message naming the field path, the bad
value and what is allowed, and the CLI exits with status 2. Unknown keys are errors. Units are in the
key names: `_s` seconds, `_bytes` bytes, `_per_s` per second, `_usd` US dollars, `_w` watts.

Paths: in this reference `workload[]` stands for every item of the `workload` list. To change a value
from Python or the command line, use the item's index instead:
`sc.with_overrides({"workload.0.arrival.rate_per_s": 5})` or
`maiasim run s.yaml --set workload.0.arrival.rate_per_s=5` (values after `=` are parsed as YAML).
"""

EXAMPLE = """\
name: maia200-llama70b-chat
seed: 7
horizon_s: 600                      # arrivals stop at 600 s; in-flight work drains
hardware: {chip: maia200, chips: 64}
model: llama-3.1-70b
precision: {weights: fp8, activations: fp8, kv_cache: fp8}
deployment:
  tensor_parallel: 4                # 64 chips / 4 = 16 replicas
  pipeline_parallel: 1
  scheduler: {max_batch_tokens: 8192, max_num_seqs: 256, chunked_prefill: true}
router: {policy: least_outstanding}
workload:
  - name: chat
    arrival: {type: poisson, rate_per_s: 40}
    prompt_tokens: {type: lognormal, median: 1000, sigma: 1.0, max: 8192}
    output_tokens: {type: fixed, value: 256}
    slo: {ttft_p99_s: 2.0, tpot_p99_s: 0.1}
  - name: batch
    arrival: {type: closed_loop, concurrency: 16, count: 500}
    prompt_tokens: {type: trace, path: azure:code}
    output_tokens: {type: trace, path: azure:code}
    slo: {e2e_p99_s: 60}
cost: {chip_hour_usd: 4.25}
engine: {fast_forward: true}
"""

EXAMPLE_NOTES = """\
- `hardware.chips: 64` with `tensor_parallel: 4` gives 16 replicas of 4 chips; giving
  `deployment.replicas: 16` instead (or as well, if consistent) is equivalent.
- `chat` is open-loop: Poisson arrivals for 600 s, whatever the fleet does. `batch` is closed-loop:
  16 clients, each sending its next request when the previous one ends, with lengths resampled
  (prompt and output paired) from the bundled Azure code trace.
- Everything left out takes the defaults listed below (e.g. `engine.drain: true`,
  `deployment.scheduler.block_tokens: 16`, `deployment.scheduler.hbm_utilization: 0.9`).

```python
import maiasim as ms, yaml
sc = ms.from_dict(yaml.safe_load(text))                # or ms.load_scenario("chat.yaml")
res = ms.simulate(sc.with_overrides({"deployment.tensor_parallel": 8, "workload.0.arrival.rate_per_s": 60}))
```
"""

RULES = """\
- Give `hardware.chips` or `deployment.replicas` (or both). `hardware.chips` must be a multiple of
  `tensor_parallel x pipeline_parallel`, and when both are given
  `hardware.chips == replicas x tensor_parallel x pipeline_parallel`.
- `hardware.chip` and `model` names must exist in the catalog (`maiasim catalog chips|models`).
- The chip must support the precisions used: GEMMs run at the wider of `precision.weights` and
  `precision.activations`, attention at the wider of `precision.activations` and
  `precision.kv_cache`; both must be keys of the chip's `peak_tflops` (checked when the run is built).
- The model's weights and activations must fit the replica's HBM (`hbm_bytes x hbm_utilization` per
  chip); otherwise the run stops with a `DoesNotFit` message saying by how much, and a hint for
  `tensor_parallel`.
- Workload names are unique and not `all` (reserved for the summary's total row).
- `prompt_tokens` and `output_tokens` are required unless `arrival.type` is `trace`; a length of
  `type: trace` needs a `path` unless the arrival is a trace.
- `uniform` lengths need `high >= low`; `lognormal` lengths need `min <= max`.
- `tensor_parallel` must divide the model's attention heads, divide its KV heads or be a multiple
  of them (KV heads are then replicated), and fit the chip's largest scale-up domain.
- `replicas x tensor_parallel x pipeline_parallel` is at most 10,000,000 chips.
- `engine.timeline_bin_s` may give at most 1,000,000 bins over `horizon_s` (a long drain widens
  the bins so the timeline never holds more).
- Numbers must be numbers: YAML `true` or a quoted `"5"` where a number goes is an error, and every
  float must be finite (no `.inf` or `.nan`).
- A scenario file is read only if it is a regular file of at most 1 MiB of UTF-8 text, nested at
  most 100 levels and at most 10,000 YAML nodes (aliases counted at every use).
- The workloads together may issue at most `engine.max_requests` requests (expected count: `count`
  for bursts and closed loops, `rate_per_s x horizon_s` for Poisson and gamma, rows inside the
  horizon for traces); the run is refused before anything is drawn.
- A trace file (`arrival.path`, `prompt_tokens.path`) must be a regular file of at most 2 GiB of
  UTF-8 CSV with `TIMESTAMP`, `ContextTokens` and `GeneratedTokens`, and at least one row; token
  counts are whole numbers from 1 to 2^24 and timestamps finite (seconds, or date-times). A bad row
  is an error naming its line, never silently changed or skipped. An edited trace is re-read.
- `cost` takes `chip_hour_usd` or `tco`, not both.
- Overrides keep the fleet consistent: overriding `deployment.replicas` alone re-derives
  `hardware.chips`; overriding `hardware.chips`, `tensor_parallel` or `pipeline_parallel` alone
  re-derives `deployment.replicas`.
"""


# ---- schema walking ---------------------------------------------------------------------------


@dataclass
class Row:
    path: str
    type: str
    default: str
    allowed: str
    description: str


@dataclass
class Section:
    title: str
    intro: str = ""
    rows: list[Row] = field(default_factory=list)
    level: int = 2


def _field_comments(cls: type) -> dict[str, str]:
    """``#:`` comments directly above each annotated field in the class body."""
    try:
        src = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    out: dict[str, str] = {}
    pending: list[str] = []
    for line in src.splitlines()[1:]:
        s = line.strip()
        if s.startswith("#:"):
            pending.append(s[2:].strip())
            continue
        m = re.match(r"^([A-Za-z_]\w*)\s*:", s)
        if m and pending:
            out[m.group(1)] = " ".join(pending)
        pending = []
    return out


def _description(cls: type, name: str, info: FieldInfo) -> str:
    text = (info.description or "").strip() or _field_comments(cls).get(name) or DESCRIPTIONS.get(f"{cls.__name__}.{name}", "")
    if text:
        text = text[0].upper() + text[1:]
        if not text.endswith("."):
            text += "."
    return text


def _is_model(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, BaseModel)


def _union_args(t: Any) -> tuple | None:
    o = get_origin(t)
    if o is Union or o is types.UnionType:
        return get_args(t)
    return None


def _strip(t: Any) -> tuple[Any, str | None]:
    """(annotation without Annotated, discriminator if one was attached)."""
    disc = None
    while get_origin(t) is Annotated:
        args = get_args(t)
        for meta in args[1:]:
            if isinstance(meta, FieldInfo) and meta.discriminator:
                disc = meta.discriminator
        t = args[0]
    return t, disc


def _literal_values(t: Any) -> list[str] | None:
    if get_origin(t) is Literal:
        return [str(v) for v in get_args(t)]
    return None


def _type_name(t: Any) -> str:
    t, _ = _strip(t)
    if t is type(None):
        return "null"
    if t is bool:
        return "boolean"
    if t is int:
        return "integer"
    if t is float:
        return "number"
    if t is str:
        return "string"
    if t is Any:
        return "any"
    if _literal_values(t) is not None:
        return "string"
    if _is_model(t):
        return "mapping"
    args = _union_args(t)
    if args is not None:
        names = []
        for a in args:
            n = _type_name(a)
            if n not in names:
                names.append(n)
        return " or ".join(names)
    o = get_origin(t)
    if o is dict:
        k, v = get_args(t)
        keys = _literal_values(k)
        ks = "/".join(keys) if keys else _type_name(k)
        return f"mapping of {ks} to {_type_name(v)}"
    if o in (list, tuple):
        args = get_args(t)
        if o is tuple and len(args) == 2 and args[1] is not Ellipsis:
            return f"[{_type_name(args[0])}, {_type_name(args[1])}]"
        return f"list of {_type_name(args[0])}"
    return getattr(t, "__name__", str(t))


def _fmt_value(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v if v else '""'
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (dict, list, tuple)):
        return json.dumps(v if not isinstance(v, tuple) else list(v))
    return str(v)


def _default(info: FieldInfo) -> str:
    if info.default is PydanticUndefined and info.default_factory is None:
        return "required"
    v = info.default if info.default_factory is None else info.default_factory()
    if isinstance(v, BaseModel):
        return "(see keys below)"
    return f"`{_fmt_value(v)}`"


_OPS = ((at.Gt, "gt", "> {}"), (at.Ge, "ge", ">= {}"), (at.Lt, "lt", "< {}"), (at.Le, "le", "<= {}"),
        (at.MinLen, "min_length", "at least {} item(s)"), (at.MaxLen, "max_length", "at most {} item(s)"))


def _constraints(t: Any, info: FieldInfo) -> str:
    parts: list[str] = []
    t, _ = _strip(t)
    lits = _literal_values(t)
    if lits is None:
        for a in _union_args(t) or ():
            lits = _literal_values(_strip(a)[0]) or lits
    if lits is not None:
        parts.append("one of " + ", ".join(f"`{v}`" for v in lits))
    if get_origin(t) is dict:
        keys = _literal_values(get_args(t)[0])
        if keys:
            parts.append("keys: " + ", ".join(f"`{k}`" for k in keys))
    for meta in info.metadata:
        for cls, attr, fmt in _OPS:
            if isinstance(meta, cls):
                val = getattr(meta, attr)
                if cls is at.MinLen and t is str:
                    parts.append(f"at least {val} character{'s' if val != 1 else ''}")
                else:
                    parts.append(fmt.format(_fmt_value(val)))
    return "; ".join(parts)


def _variants(t: Any, disc: str | None = None) -> tuple[list[type], str] | None:
    """Model classes of a discriminated union (possibly Optional), and the discriminator."""
    t, d = _strip(t)
    disc = disc or d
    args = _union_args(t)
    if args is None:
        return None
    models: list[type] = []
    for a in args:
        a, d = _strip(a)
        disc = disc or d
        if _union_args(a):
            res = _variants(a, disc)
            if res:
                models += res[0]
                disc = res[1]
        elif _is_model(a):
            models.append(a)
    if len(models) >= 2 and disc:
        return models, disc
    return None


def _tag(cls: type, disc: str) -> str:
    return str(get_args(cls.model_fields[disc].annotation)[0])


class _Walker:
    def __init__(self) -> None:
        self.sections: list[Section] = []
        self.appendix: list[tuple[type, str, str, str]] = []  # (model, path, title, intro)
        self.seen_unions: dict[Any, str] = {}
        self.all_rows: list[tuple[str, str, str]] = []  # (path, ClassName.field, description)

    def model(self, cls: type, path: str, title: str, intro: str = "", level: int = 2, skip: str | None = None) -> None:
        note = NOTES.get(cls.__name__, "")
        intro = intro or _doc(cls)
        sec = Section(title, f"{intro}\n\n{note}".strip(), level=level)
        self.sections.append(sec)
        nested: list[tuple] = []
        for name, info in cls.model_fields.items():
            if name == skip:
                continue
            p = f"{path}.{name}" if path else name
            t = info.annotation
            desc = _description(cls, name, info)
            self.all_rows.append((p, f"{cls.__name__}.{name}", desc))
            var = _variants(t, info.discriminator if isinstance(info.discriminator, str) else None)
            bare, _ = _strip(t)
            if var is not None:
                models, disc = var
                key = tuple(models)
                tags = ", ".join(f"`{_tag(m, disc)}`" for m in models)
                if key in self.seen_unions:
                    desc = f"{desc} Same keys as `{self.seen_unions[key]}`."
                else:
                    self.seen_unions[key] = p
                    nested.append(("variants", models, disc, p, name))
                opt = " or null" if any(a is type(None) for a in (_union_args(bare) or ())) else ""
                sec.rows.append(Row(p, f"mapping{opt}", _default(info), f"`{disc}`: one of {tags}", desc))
                continue
            args = _union_args(bare) or ()
            inline = [a for a in args if _is_model(a)]
            if inline and str in args:  # a catalog name or an inline spec: documented in the appendix
                self.appendix.append((inline[0], p, f"Inline {_NAMES.get(inline[0], inline[0].__name__)}", ""))
            sub = _list_item(bare)
            if _is_model(bare):
                nested.append(("model", bare, p))
            elif sub is not None and _is_model(sub):
                nested.append(("model", sub, p + "[]"))
            else:
                single = [a for a in args if _is_model(a) and a is not type(None)]
                if len(single) == 1 and len(args) == 2 and type(None) in args:
                    nested.append(("model", single[0], p))
            sec.rows.append(Row(p, _type_name(t), _default(info), _constraints(t, info), desc))
        for item in nested:
            if item[0] == "model":
                _, m, p = item
                self.model(m, p, f"`{p}`", level=level)
            else:
                _, models, disc, p, name = item
                self.variants(models, disc, p, name, level)

    def variants(self, models: list[type], disc: str, path: str, name: str, level: int) -> None:
        tags = ", ".join(f"`{_tag(m, disc)}`" for m in models)
        title = {"arrival": "Arrival types", "prompt_tokens": "Length distributions"}.get(name, f"Types of `{name}`")
        intro = f"`{path}.{disc}` selects one of {tags}; each takes the keys listed under it."
        if name == "prompt_tokens":
            intro += f" `{path.rsplit('.', 1)[0]}.output_tokens` takes the same types and keys."
        self.sections.append(Section(f"{title}: `{path}`", intro, level=level))
        for m in models:
            self.model(m, path, f"`{disc}: {_tag(m, disc)}`", level=level + 1, skip=disc)
            if not self.sections[-1].rows and not self.sections[-1].intro:
                self.sections[-1].intro = "No other keys."


_NAMES = {ChipSpec: "chip spec", ModelSpec: "model spec"}


def _list_item(t: Any) -> Any:
    if get_origin(t) in (list, tuple):
        args = get_args(t)
        if args:
            return args[0]
    return None


def _doc(cls: type) -> str:
    d = cls.__dict__.get("__doc__")
    return inspect.cleandoc(d) if d else ""


def _esc(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def _render_section(sec: Section) -> str:
    out = [f"{'#' * sec.level} {sec.title}", ""]
    if sec.intro:
        out += [sec.intro, ""]
    if sec.rows:
        out.append("| Key | Type | Default | Allowed / constraints | Description |")
        out.append("|---|---|---|---|---|")
        for r in sec.rows:
            out.append(f"| `{r.path}` | {_esc(r.type)} | {_esc(r.default)} | {_esc(r.allowed)} | {_esc(r.description)} |")
        out.append("")
    return "\n".join(out)


@dataclass
class Reference:
    """The walked schema: main sections, appendix sections, and every (path, ClassName.field, description)."""

    main: list[Section]
    appendix: list[Section]
    rows: list[tuple[str, str, str]]


def walk() -> Reference:
    """Walk the scenario schema (and the inline chip, model and calibration specs)."""
    w = _Walker()
    w.model(Scenario, "", "Top-level keys")
    main = list(w.sections)
    w.sections = []
    done: set[str] = set()
    for cls, path, title, intro in sorted(w.appendix, key=lambda a: a[0] is not ChipSpec):
        if path in done:
            continue
        done.add(path)
        what = "chip" if cls is ChipSpec else "model"
        intro = (f"`{path}` may be a mapping instead of a catalog name: a whole {what} spec, validated like the "
                 f"catalog's entries (`maiasim/catalog/{what}s.yaml`).")
        if cls is ChipSpec:
            intro += (" `hardware.chip_overrides` takes any of these keys (deep-merged into the catalog chip), "
                      "e.g. `{hbm_bandwidth_bytes_per_s: 8.0e+12}`.")
        w.model(cls, path, f"{title}: `{path}`", intro=intro)
    w.model(Calibration, "hardware.calibration", "Calibration: `hardware.calibration`",
            intro="Sustained-efficiency factors of the chip (`maiasim/spec/calibration.py`). `hardware.calibration` "
                  "takes any of these keys, deep-merged into the chip's shipped calibration (generic defaults "
                  "for a chip without one), e.g. `{hbm_fraction: 0.7}`. See docs/physics.md for where each enters.")
    return Reference(main, w.sections, w.all_rows)


def generate() -> str:
    """The full text of docs/scenario-reference.md."""
    ref = walk()
    parts = [
        "<!-- Generated by `python -m maiasim.schema_doc` from the pydantic schema (maiasim/scenario/schema.py).",
        "     Do not edit by hand: change the schema or maiasim/schema_doc.py and regenerate. -->",
        "",
        "# Scenario reference",
        "",
        INTRO,
        "## Worked example",
        "",
        "```yaml",
        EXAMPLE.rstrip("\n"),
        "```",
        "",
        EXAMPLE_NOTES,
        "## Rules that involve more than one key",
        "",
        RULES,
    ]
    for sec in ref.main:
        parts.append(_render_section(sec))
    parts += ["# Inline specs and calibration", "",
              "Rarely needed: for a chip or model that is not in the catalog, or to change a calibration factor.", ""]
    for sec in ref.appendix:
        parts.append(_render_section(sec))
    return "\n".join(parts).rstrip("\n") + "\n"


def default_path() -> Path:
    repo = Path(__file__).resolve().parents[1]
    base = repo if (repo / "pyproject.toml").is_file() else Path.cwd()
    return base / "docs" / "scenario-reference.md"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m maiasim.schema_doc", description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", type=Path, default=None, help="file to write (default: docs/scenario-reference.md)")
    ap.add_argument("--check", action="store_true", help="exit 1 if the file differs from the generated text")
    args = ap.parse_args(argv)
    path = args.output or default_path()
    text = generate()
    if args.check:
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current != text:
            print(f"{path} is out of date; run: python -m maiasim.schema_doc", file=sys.stderr)
            return 1
        print(f"{path} is up to date")
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
