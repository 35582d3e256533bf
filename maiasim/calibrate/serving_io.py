"""Readers for end-to-end serving benchmarks: what ``vllm bench serve --save-result`` and
``trtllm-bench throughput --report_json`` write, and a CSV of such runs.

Each reader returns one row per benchmark run with the load that was offered and what was
measured, in one shape (:data:`COLUMNS`), so the serving fit (:mod:`.serving`) never sees a
format's quirks:

- the load: ``requests``, ``concurrency`` (NaN: unbounded) and ``rate_per_s`` (inf: all at
  once), fixed ``prompt_tokens`` and ``output_tokens`` per request;
- the measurements: ``throughput_tok_s`` (output tokens per second), ``ttft_s`` and ``tpot_s``
  (``ttft_stat`` / ``tpot_stat`` say whether the mean or the median was given; NaN: not measured);
- what it ran on, where the file says: ``model`` (Hugging Face id), ``tp``, ``chip``, ``stack``,
  ``version``;
- ``lengths``: the per-request (prompt, output) token counts where the file has them (vLLM's
  ``input_lens`` / ``output_lens``, or a CSV's ``lengths_file``), else None. Benchmarks on real
  prompt sets (ShareGPT) have heavy-tailed lengths that a fixed mean misrepresents badly: a burst's
  duration is set by its longest answer.

A file that lacks a field the fit needs, or gives a value that cannot be, is a
:class:`~maiasim.errors.ScenarioError` naming the file and the field.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import ScenarioError

#: The columns of every reader's frame, in order.
COLUMNS = ("source", "model", "chip", "stack", "version", "tp", "requests", "concurrency",
           "rate_per_s", "prompt_tokens", "output_tokens", "throughput_tok_s", "ttft_s",
           "ttft_stat", "tpot_s", "tpot_stat", "lengths")

#: Field names of a run's values, first match wins: vLLM's result JSON, then trtllm-bench's
#: report (flattened with dots), then short CSV aliases.
ALIASES: dict[str, tuple[str, ...]] = {
    "model": ("model_id", "model", "engine.model"),
    "version": ("version", "vllm_version", "engine.version"),
    "tp": ("tp", "tensor_parallel_size", "tensor_parallel", "world_info.tp_size"),
    "chip": ("chip", "gpu"),
    "stack": ("stack", "backend_stack"),
    "requests": ("completed", "num_prompts", "request_info.num_requests", "requests"),
    "concurrency": ("max_concurrency", "concurrency"),
    "rate_per_s": ("request_rate", "rate_per_s"),
    "prompt_tokens": ("input_len", "random_input_len", "request_info.avg_input_length",
                      "prompt_tokens"),
    "output_tokens": ("output_len", "random_output_len", "request_info.avg_output_length",
                      "output_tokens"),
    "throughput_tok_s": ("output_throughput", "performance.system_output_throughput_tok_s",
                         "output_tok_s"),
}
#: (field, statistic, scale to seconds) for TTFT and TPOT, first present wins.
LATENCY: dict[str, tuple[tuple[str, str, float], ...]] = {
    "ttft_s": (("mean_ttft_ms", "mean", 1e-3), ("median_ttft_ms", "median", 1e-3),
               ("streaming_metrics.avg_ttft_ms", "mean", 1e-3),
               ("streaming_metrics.ttft_percentiles.p50", "median", 1e-3)),
    "tpot_s": (("mean_tpot_ms", "mean", 1e-3), ("median_tpot_ms", "median", 1e-3),
               ("streaming_metrics.avg_tpot_ms", "mean", 1e-3),
               ("streaming_metrics.tpot_percentiles.p50", "median", 1e-3)),
}


def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def missing(v: Any) -> bool:
    """Is a field absent: None, blank text or NaN (an empty CSV cell)."""
    if v is None:
        return True
    if isinstance(v, str):
        return v.strip() == ""
    return isinstance(v, float) and math.isnan(v)


def _first(rec: dict, names: tuple[str, ...]) -> tuple[str | None, Any]:
    for n in names:
        if n in rec and not missing(rec[n]):
            return n, rec[n]
    return None, None


def _number(where: str, field: str, v: Any, *, low: float = 0.0, inf_ok: bool = False,
            integer: bool = False) -> float:
    """``v`` as a finite positive number (or inf where allowed), else an error naming the
    field."""
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise ScenarioError(f"{where}: field {field!r}: {v!r} is not a number") from None
    if math.isnan(x) or (math.isinf(x) and not (inf_ok and x > 0)) or x <= low:
        allowed = "a positive number" + (" or inf" if inf_ok else "")
        raise ScenarioError(f"{where}: field {field!r}: {v!r} is not allowed ({allowed})")
    if integer and math.isfinite(x):
        x = float(round(x))
    return x


def normalise(rec: dict, where: str, statistic: str = "mean") -> dict[str, Any]:
    """One benchmark run (a flat mapping of its fields) in the common shape (:data:`COLUMNS`);
    ``statistic`` (``mean`` or ``median``) is the TTFT and TPOT statistic preferred when the run
    gives both (the other is used when it gives only that)."""
    row: dict[str, Any] = {"source": where}
    for key in ("model", "version", "chip", "stack"):
        row[key] = str(_first(rec, ALIASES[key])[1] or "")
    name, v = _first(rec, ALIASES["tp"])
    row["tp"] = int(_number(where, name, v, integer=True)) if name else 0
    name, v = _first(rec, ALIASES["requests"])
    if name is None:
        raise ScenarioError(f"{where}: no request count (give one of the fields "
                            f"{', '.join(ALIASES['requests'])})")
    row["requests"] = int(_number(where, name, v, integer=True))
    name, v = _first(rec, ALIASES["concurrency"])
    row["concurrency"] = _number(where, name, v, integer=True) if name else math.nan
    name, v = _first(rec, ALIASES["rate_per_s"])
    row["rate_per_s"] = _number(where, name, v, inf_ok=True) if name else math.inf
    for key, total in (("prompt_tokens", "total_input_tokens"),
                       ("output_tokens", "total_output_tokens")):
        name, v = _first(rec, ALIASES[key])
        if name is None and not missing(rec.get(total)):
            name, v = total, float(_number(where, total, rec[total])) / row["requests"]
        if name is None:
            raise ScenarioError(f"{where}: no {key.replace('_', ' ')} per request (give one of "
                                f"the fields {', '.join(ALIASES[key] + (total,))})")
        row[key] = max(1, int(_number(where, name, v, integer=True)))
    name, v = _first(rec, ALIASES["throughput_tok_s"])
    row["throughput_tok_s"] = _number(where, name, v) if name else math.nan
    for key, options in LATENCY.items():
        row[key], row[key.replace("_s", "_stat")] = math.nan, ""
        for field, stat, scale in sorted(options, key=lambda o: o[1] != statistic):
            if field in rec and not missing(rec[field]):
                row[key] = _number(where, field, rec[field]) * scale
                row[key.replace("_s", "_stat")] = stat
                break
    row["lengths"] = _lengths(rec, where, row["requests"])
    if all(math.isnan(row[k]) for k in ("throughput_tok_s", "ttft_s", "tpot_s")):
        raise ScenarioError(f"{where}: nothing measured (give output_throughput, "
                            f"mean_ttft_ms or mean_tpot_ms, or their trtllm-bench fields)")
    return row


def read_lengths(path: str | Path) -> tuple[tuple[int, int], ...]:
    """A lengths CSV (``ContextTokens``, ``GeneratedTokens`` per request, ``#`` comments) as
    (prompt, output) pairs, as recorded: an output of 0 is an empty answer (the replay still
    generates one token for it, and scores its TTFT as the harness did: 0)."""
    try:
        d = pd.read_csv(path, comment="#")
        pairs = zip(d["ContextTokens"], d["GeneratedTokens"], strict=True)
        out = tuple((int(a), int(b)) for a, b in pairs)
        if any(a < 1 or b < 0 for a, b in out):
            raise ValueError("a prompt under 1 token or a negative output")
        return out
    except (OSError, KeyError, ValueError, pd.errors.ParserError) as e:
        raise ScenarioError(f"{path}: not a lengths CSV with ContextTokens and GeneratedTokens "
                            f"({e})") from None


def _lengths(rec: dict, where: str, n: int) -> tuple[tuple[int, int], ...] | None:
    """The run's per-request lengths: its own lists, or the first ``n`` of its lengths file."""
    ins, outs = rec.get("input_lens"), rec.get("output_lens")
    if isinstance(ins, list) and isinstance(outs, list) and ins:
        if len(ins) != len(outs):
            raise ScenarioError(f"{where}: fields 'input_lens' and 'output_lens' differ in length "
                                f"({len(ins)} and {len(outs)})")
        try:
            return tuple((max(1, int(a)), max(0, int(b))) for a, b in zip(ins, outs, strict=True))
        except (TypeError, ValueError):
            raise ScenarioError(f"{where}: fields 'input_lens' / 'output_lens' must be lists of "
                                f"whole numbers") from None
    f = rec.get("lengths_file")
    if missing(f):
        return None
    path = Path(str(rec.get("_dir", ""))) / str(f)
    pairs = read_lengths(path)
    if len(pairs) < n:
        raise ScenarioError(f"{where}: field 'lengths_file': {f} has {len(pairs)} requests, "
                            f"fewer than the run's {n}")
    return pairs[:n]


def _records_json(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        try:  # `vllm bench serve --append-result` writes one JSON object per line
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as e:
            raise ScenarioError(f"{path}: not JSON or JSON lines ({e})") from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not data or not all(isinstance(d, dict) for d in data):
        raise ScenarioError(f"{path}: expected a benchmark result object, a list of them or "
                            f"JSON lines")
    return [_flatten(d) for d in data]


def read_serving(path: str | Path, statistic: str = "mean") -> pd.DataFrame:
    """The benchmark runs in ``path``: a ``vllm bench serve`` result JSON (one object, a list, or
    JSON lines), a ``trtllm-bench --report_json`` file, or a CSV with one run per row whose
    columns are those fields' names (``input_len``, ``output_len``, ``tp`` and ``lengths_file``
    may be added). ``statistic``: the TTFT / TPOT statistic to compare, ``mean`` or ``median``."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such file: {p}")
    if p.suffix.lower() == ".csv":
        try:
            d = pd.read_csv(p, comment="#", skipinitialspace=True)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
            raise ScenarioError(f"{p}: not a readable CSV ({e})") from None
        records = [r | {"_dir": str(p.parent)} for r in d.to_dict("records")]
        wheres = [f"{p}: row {i + 1}" for i in range(len(records))]
    else:
        records = _records_json(p)
        wheres = [str(p) if len(records) == 1 else f"{p}: run {i + 1}"
                  for i in range(len(records))]
    if not records:
        raise ScenarioError(f"{p}: no benchmark runs")
    if statistic not in ("mean", "median"):
        raise ScenarioError(f"statistic {statistic!r}: allowed: mean, median")
    rows = [normalise(r, w, statistic) | {k: r[k] for k in r if k not in COLUMNS and k in EXTRA}
            for r, w in zip(records, wheres, strict=True)]
    return pd.DataFrame(rows)


#: Extra columns a CSV may carry that are kept for reports (provenance, hold-out labels).
EXTRA = ("case", "split", "deployment", "source_url", "licence", "precision", "kv_cache",
         "hardware_note")
