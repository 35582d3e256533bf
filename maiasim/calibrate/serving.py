"""Fit a serving stack's factors to end-to-end benchmarks: ``maiasim calibrate CHIP serving FILE``.

A handful of ``vllm bench serve`` / ``trtllm-bench`` runs (output throughput, TTFT and TPOT at a
known concurrency or request rate and fixed prompt and output lengths; :mod:`.serving_io`) pin
down what kernel profiles cannot: the engine's fixed time per iteration, the share of HBM
bandwidth its decode steps reach, its host time per batch token and its front end's time per
request. Each run is replayed through the simulator itself (closed loop at the run's concurrency,
Poisson at its rate, or everything at once; fixed lengths), so a fitted factor means exactly what
a simulation will do with it. The loss is the squared log error of the three metrics over every
run, minimised with the bounded search of :mod:`.optimise`.
"""

from __future__ import annotations

import atexit
import hashlib
import math
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .. import catalog
from ..build import build_fleet
from ..engine import run
from ..errors import ScenarioError
from ..results.frames import Result
from ..scenario import Scenario, from_dict
from ..spec.calibration import Calibration
from .optimise import (
    REJECTED_RESIDUAL,
    from_unit,
    levenberg_marquardt,
    log_residuals,
    nelder_mead,
    to_unit,
)
from .parameters import PARAMS, Param, get_param, set_params
from .serving_io import missing

#: Front-end factors a serving fit may change besides the calibration's (scenario
#: ``deployment.front_end``), with their search boxes.
FRONT_END: dict[str, Param] = {
    "front_end_request_s": Param("front_end_request_s", 1e-4, 0.5, True),
    "front_end_token_s": Param("front_end_token_s", 1e-7, 1e-2, True),
    "front_end_serial_s": Param("front_end_serial_s", 1e-5, 0.05, True),
    "front_end_serial_exponent": Param("front_end_serial_exponent", 0.3, 1.2),
    "cold_start_s": Param("cold_start_s", 1e-4, 20.0, True),
}

#: Replay-only factors: they shape how a benchmark run reaches the engine, not the engine, and
#: have no scenario field. ``front_end_serial_s``: an API server that takes a burst's requests one
#: at a time before the engine can step (vLLM V0 runs its HTTP server, tokeniser and engine loop
#: in one asyncio loop in one process) hands the whole burst of N over after
#: ``N x front_end_serial_s``: every TTFT and the run's duration grow by that much. It matters for
#: a plan only when the request rate approaches ``1 / front_end_serial_s``.
#: ``front_end_serial_exponent`` p bends that to ``front_end_serial_s x N^p``: in the Lambda
#: bursts the hand-over costs 3-6 ms per request at 40 requests and 2-2.5 ms at 1,280.
#: ``cold_start_s``: a server started afresh for each run (as benchmark scripts do) spends a
#: one-time time before its first burst step (just-in-time kernel compilation, e.g. Triton MoE
#: kernels, and lazy initialisation) that a warm server in production paid long before.
REPLAY_ONLY = frozenset({"front_end_serial_s", "front_end_serial_exponent", "cold_start_s"})

#: What a serving fit changes by default: the engine's fixed time per iteration, its host time
#: per running sequence and per batch token, the share of HBM bandwidth decode attention
#: reaches, the front end's time per request, and the replay-only burst hand-over and cold start
#: (the set docs/validation.md validates; ``hbm_fraction`` and ``front_end_token_s`` may be
#: fitted instead or as well). The replay-only factors change nothing for runs that are not
#: bursts.
DEFAULT_SERVING_PARAMS = ("iteration_overhead_s", "per_sequence_overhead_s",
                          "per_token_overhead_s", "attention_decode_hbm_fraction",
                          "front_end_request_s", "front_end_serial_s",
                          "front_end_serial_exponent", "cold_start_s")

#: Metrics compared (columns of the runs frame and of the predictions).
METRICS = ("throughput_tok_s", "ttft_s", "tpot_s")

#: Requests simulated per run at most (a long benchmark's steady state is reached long before).
MAX_SIM_REQUESTS = 2000

#: Catalog names of common Hugging Face model ids (same architecture, other release).
MODEL_ALIASES = {"llama-3-8b": "llama-3.1-8b", "llama-3-70b": "llama-3.1-70b",
                 "llama-3.3-70b": "llama-3.1-70b", "llama-3.1-405b-fp8": "llama-3.1-405b"}


def catalog_model(name: str) -> str:
    """The catalog model a Hugging Face id names (``meta-llama/Meta-Llama-3.1-8B-Instruct`` ->
    ``llama-3.1-8b``); ``ValueError`` when none does."""
    s = name.strip().lower().rsplit("/", 1)[-1].removeprefix("meta-")
    s = re.sub(r"-v\d+(\.\d+)*$", "", s)  # a checkpoint's release (Mixtral-8x7B-...-v0.1)
    for suffix in ("-instruct", "-chat", "-hf", "-fp8", "-fp8-dynamic", "-base"):
        s = s.replace(suffix, "")
    s = MODEL_ALIASES.get(s, s)
    if s not in catalog.models():
        raise ValueError(f"model {name!r} is not a catalog model (give --model, one of "
                         f"{', '.join(catalog.models())})")
    return s


@dataclass(frozen=True)
class ServingSetup:
    """What the runs of a fit ran on: one chip, stack and precision; ``model`` and ``tp`` apply
    to every run when given, else each run's own (``model_id`` mapped by :func:`catalog_model`,
    ``tp``; 1 where the run does not say)."""

    chip: str
    model: str = ""
    stack: str = "vllm"
    tp: int = 0
    weights: str = "bf16"
    kv_cache: str | None = None
    max_num_seqs: int = 256
    max_batch_tokens: int = 8192
    memory_fraction: float | None = None  #: the stack's memory fraction (None: its default)
    seed: int = 0
    extra: Mapping = field(default_factory=dict)


_TRACE_DIR: list[Path] = []


def _trace_csv(lengths: Sequence[tuple[int, int]]) -> str:
    """A trace CSV of ``lengths``, all at t = 0 (an empty answer still generates one token),
    written to a temporary folder once and named by its contents."""
    text = "TIMESTAMP,ContextTokens,GeneratedTokens\n" + "".join(
        f"0,{max(1, a)},{max(1, b)}\n" for a, b in lengths)
    if not _TRACE_DIR:
        _TRACE_DIR.append(Path(tempfile.mkdtemp(prefix="maiasim-serving-")))
        atexit.register(shutil.rmtree, _TRACE_DIR[0], ignore_errors=True)
    path = _TRACE_DIR[0] / f"{hashlib.sha1(text.encode()).hexdigest()[:16]}.csv"
    if not path.exists():
        path.write_text(text, encoding="utf-8")
    return str(path)


def _lengths(case: pd.Series) -> tuple[dict, dict, str | None]:
    """Prompt and output length distributions of a run: its own per-request lengths (replayed in
    order for a burst, resampled otherwise) or its fixed mean lengths."""
    pairs = case.get("lengths")
    if isinstance(pairs, tuple) and pairs:
        path = _trace_csv(pairs[:MAX_SIM_REQUESTS])
        return {"type": "trace", "path": path}, {"type": "trace", "path": path}, path
    return ({"type": "fixed", "value": int(case.prompt_tokens)},
            {"type": "fixed", "value": int(case.output_tokens)}, None)


def _arrival(case: pd.Series, n: int) -> tuple[dict, float]:
    """The workload's arrival process and horizon for one run."""
    c, rate = case.concurrency, case.rate_per_s
    if math.isfinite(rate):  # Poisson at the rate (a concurrency cap as well is not modelled)
        return {"type": "poisson", "rate_per_s": float(rate)}, n / float(rate)
    if not math.isnan(c):
        return {"type": "closed_loop", "concurrency": int(c), "count": n}, 1e5
    return {"type": "burst", "count": n}, 1e5


def run_setup(setup: ServingSetup, case: pd.Series) -> ServingSetup:
    """``setup`` with the run's own model and tensor parallelism where the setup leaves them, and
    its own weight precision and KV-cache format where the run states them (``precision``,
    ``kv_cache`` columns)."""
    model = setup.model or catalog_model(str(case.get("model", "") or ""))
    tp = setup.tp or int(case.get("tp", 0) or 0) or 1
    prec, kv = case.get("precision"), case.get("kv_cache")
    return replace(setup, model=model, tp=tp,
                   weights=setup.weights if missing(prec) else str(prec).strip(),
                   kv_cache=setup.kv_cache if missing(kv) else str(kv).strip())


def scenario_for(setup: ServingSetup, case: pd.Series, front_end: Mapping[str, float]
                 ) -> Scenario:
    """The scenario that replays one benchmark run: one replica, the run's lengths and load."""
    setup = run_setup(setup, case)
    n = int(min(case.requests, MAX_SIM_REQUESTS))
    arrival, horizon = _arrival(case, n)
    prompt, output, trace = _lengths(case)
    if arrival["type"] == "burst" and trace:  # every request at t = 0, lengths in order
        arrival, prompt, output = {"type": "trace", "path": trace}, None, None
    prec: dict = {"weights": setup.weights, "activations": setup.weights}
    if setup.kv_cache:
        prec["kv_cache"] = setup.kv_cache
    fe = {k.removeprefix("front_end_"): float(v) for k, v in front_end.items()
          if k not in REPLAY_ONLY}
    data = {
        "name": "serving-calibration", "seed": setup.seed, "horizon_s": horizon,
        "hardware": {"chip": setup.chip}, "model": setup.model, "precision": prec,
        "deployment": {"stack": setup.stack, "tensor_parallel": setup.tp, "replicas": 1,
                       "scheduler": {"max_num_seqs": setup.max_num_seqs,
                                     "max_batch_tokens": setup.max_batch_tokens}
                       | ({"hbm_utilization": setup.memory_fraction}
                          if setup.memory_fraction else {}),
                       "front_end": fe},
        "workload": [{"name": "bench", "arrival": arrival}
                     | ({"prompt_tokens": prompt, "output_tokens": output} if prompt else {})],
    }
    for k, v in setup.extra.items():
        data[k] = v
    return from_dict(data)


def _burst_ttft(requests: pd.DataFrame, pairs, median: bool, delay: float) -> float:
    """TTFT of a replayed burst as the harness scored it: from the client's send, ``delay``
    before the engine saw the burst (a serial front end), and 0 for a request whose recorded
    answer was empty (vLLM's benchmark_serving records no first token for it and averages its 0
    in)."""
    r = requests.sort_values("request_id")
    t = (r.ttft_s + r.arrival_s + delay).to_numpy(float)
    ok = (r.status == "completed").to_numpy()
    if isinstance(pairs, tuple) and len(pairs) >= len(t):
        t = np.where(np.array([b for _, b in pairs[:len(t)]]) == 0, 0.0, t)
    t = t[ok]
    return float(np.median(t) if median else np.mean(t))


def predict_serving(setup: ServingSetup, calib: Calibration, cases: pd.DataFrame,
                    front_end: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Predicted ``throughput_tok_s``, ``ttft_s`` and ``tpot_s`` of every run (each the statistic
    the run reports: mean or median), simulated under ``calib`` and the front-end times."""
    fe = dict(front_end or {})
    serial = float(fe.get("front_end_serial_s", 0.0))
    cold = float(fe.get("cold_start_s", 0.0))
    power = float(fe.get("front_end_serial_exponent", 1.0))
    rows = []
    for _, case in cases.iterrows():
        sc = scenario_for(setup, case, fe)
        res = Result(sc, run(build_fleet(sc, calib)))
        s = res.summary
        s = s[s.workload == "all"].iloc[0]
        stat = {"mean": "mean", "median": "p50", "": "mean"}
        ttft = float(s[f"ttft_{stat[case.get('ttft_stat', '') or '']}_s"])
        burst = math.isinf(case.rate_per_s) and math.isnan(case.concurrency)
        pairs = case.get("lengths")
        n = min(case.requests, MAX_SIM_REQUESTS)
        delay = cold + serial * n ** power if burst else 0.0
        if burst and (delay or isinstance(pairs, tuple)):
            ttft = _burst_ttft(res.requests, pairs, case.get("ttft_stat") == "median", delay)
        duration = float(s.duration_s)
        rows.append({
            "throughput_tok_s": float(s.output_tok_s) * duration / (duration + delay),
            "ttft_s": ttft,
            "tpot_s": float(s[f"tpot_{stat[case.get('tpot_stat', '') or '']}_s"]),
            "completed": int(s.completed), "requests": int(s.requests),
        })
    return pd.DataFrame(rows, index=cases.index)


def residuals(pred: pd.DataFrame, cases: pd.DataFrame) -> np.ndarray:
    """Log ratios predicted / measured of every measured metric of every run (a run whose
    requests did not all complete counts as badly wrong)."""
    out = []
    for col in METRICS:
        m = cases[col].to_numpy(float)
        ok = ~np.isnan(m)
        out.append(log_residuals(pred[col].to_numpy(float)[ok], m[ok]))
    failed = (pred.completed < pred.requests).to_numpy()
    out.append(np.where(failed, REJECTED_RESIDUAL, 0.0))
    return np.concatenate(out)


#: Log error above which a run's residual counts linearly, not quadratically (soft-L1 loss).
ROBUST_SCALE = 0.1


def soft_l1(r: np.ndarray, scale: float) -> np.ndarray:
    """Residuals whose squares are the soft-L1 loss ``2 scale^2 (sqrt(1 + (r/scale)^2) - 1)``:
    quadratic below ``scale``, linear above, so a run that stalled for reasons no model of the
    engine has (a benchmark hiccup) pulls the fit in proportion to its error, not its square."""
    return np.sign(r) * scale * np.sqrt(2.0 * (np.sqrt(1.0 + (r / scale) ** 2) - 1.0))


def serving_params(names: Sequence[str] | None) -> list[Param]:
    """The factors a serving fit changes: calibration factors and front-end times."""
    out = []
    for n in names or DEFAULT_SERVING_PARAMS:
        if n in FRONT_END:
            out.append(FRONT_END[n])
        elif n in PARAMS:
            out.append(PARAMS[n])
        else:
            raise ValueError(f"cannot fit {n!r} (fittable: {', '.join([*PARAMS, *FRONT_END])})")
    return out


@dataclass(frozen=True)
class ServingFit:
    """A fitted serving calibration: the chip calibration, the front-end times, the report."""

    calibration: Calibration
    front_end: dict[str, float]
    fitted: dict[str, float]
    report: pd.DataFrame
    setup: ServingSetup

    def overrides(self) -> dict[str, float]:
        """The fit as dotted scenario overrides (``--set`` / ``Scenario.with_overrides``)."""
        out = {f"hardware.calibration.{k}": v for k, v in self.fitted.items()
               if k not in FRONT_END}
        out |= {f"deployment.front_end.{k.removeprefix('front_end_')}": v
                for k, v in self.fitted.items() if k in FRONT_END and k not in REPLAY_ONLY}
        return out


def _start(setup: ServingSetup, calib: Calibration, p: Param) -> float:
    if p.name in REPLAY_ONLY:
        return 1.0 if p.name == "front_end_serial_exponent" else 1e-3
    if p.name in FRONT_END:
        st = catalog.stack(setup.stack)
        return max(float(getattr(st, p.name)), p.lo)
    return get_param(calib, p.name)


def fit_serving(setup: ServingSetup, cases: pd.DataFrame, *, base: Calibration | None = None,
                params: Sequence[str] | None = None, iters: int = 40,
                robust: float | None = ROBUST_SCALE) -> ServingFit:
    """Fit the factors ``params`` (default :data:`DEFAULT_SERVING_PARAMS`) to ``cases`` (the rows
    of :func:`~maiasim.calibrate.serving_io.read_serving`; a ``split`` column, if any, keeps only
    ``fit`` rows for the fit). ``robust``: the soft-L1 scale of :func:`soft_l1` (None: plain
    least squares). Returns the fit with a report of every row, measured and predicted, with
    signed percentage errors."""
    base = base or catalog.calibration(setup.chip)
    ps = serving_params(params)
    train = cases[cases.split == "fit"] if "split" in cases else cases
    if train.empty:
        raise ValueError("no runs to fit on")

    def at(x) -> tuple[Calibration, dict[str, float]]:
        vals = {p.name: from_unit(p, xi) for p, xi in zip(ps, x, strict=True)}
        fe = {k: v for k, v in vals.items() if k in FRONT_END}
        return set_params(base, {k: v for k, v in vals.items() if k not in FRONT_END}), fe

    n_res = len(residuals(predict_serving(setup, base, train), train))

    def res(x) -> np.ndarray:
        try:
            c, fe = at(x)
            r = residuals(predict_serving(setup, c, train, fe), train)
        except (ValueError, ScenarioError):
            r = np.full(n_res, REJECTED_RESIDUAL)
        return soft_l1(r, robust) if robust else r

    x0 = np.array([to_unit(p, _start(setup, base, p)) for p in ps])
    x, _ = nelder_mead(lambda v: float(np.sum(res(v) ** 2)), x0, step=0.8, iters=iters)
    x, _ = levenberg_marquardt(res, x, iters=max(5, iters // 4), h=1e-3)
    calib, fe = at(x)
    fitted = {p.name: from_unit(p, xi) for p, xi in zip(ps, x, strict=True)}
    src = f"fitted by maiasim.calibrate.serving to {len(train)} end-to-end runs"
    calib = calib.model_copy(update={
        "sources": {**calib.sources, **{k: src for k in fitted if k not in FRONT_END}},
        "fitted_on": "; ".join(s for s in (calib.fitted_on, f"serving ({setup.stack})") if s)})
    return ServingFit(calib, fe, fitted, serving_report(setup, calib, cases, fe), setup)


def serving_report(setup: ServingSetup, calib: Calibration, cases: pd.DataFrame,
                   front_end: Mapping[str, float] | None = None) -> pd.DataFrame:
    """``cases`` with ``predicted_<metric>`` and ``error_<metric>_pct`` (signed: positive =
    predicted higher) for throughput, TTFT and TPOT."""
    pred = predict_serving(setup, calib, cases, front_end)
    out = cases.copy()
    for col in METRICS:
        out[f"predicted_{col}"] = pred[col]
        out[f"error_{col}_pct"] = 100.0 * (pred[col] - out[col]) / out[col]
    out["predicted_completed"] = pred.completed
    return out


def serving_error_summary(rep: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """Median, p90 and max absolute percentage error of each metric (per group of ``by``)."""
    rows = []
    groups = rep.groupby(list(by), sort=False) if by else [((), rep)]
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        for col in METRICS:
            e = g[f"error_{col}_pct"].abs().dropna()
            if e.empty:
                continue
            rows.append({**dict(zip(by, key, strict=True)), "metric": col, "cases": len(e),
                         "median_abs_pct": float(e.median()),
                         "p90_abs_pct": float(e.quantile(0.9)), "max_abs_pct": float(e.max())})
    return pd.DataFrame(rows)
