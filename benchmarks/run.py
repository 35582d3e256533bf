"""maiasim speed and memory benchmarks (issue 3). Run: `make bench` (or python benchmarks/run.py).

Each case runs in its own process so that peak RSS is that case's alone. Prints a table and writes
benchmarks/results.csv. Times are wall-clock on this machine: compare ratios, not absolute seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _scenario(case: str, n: int):
    import maiasim as ms

    if case == "day":
        # a day of the Azure conversation trace, repeated and sped up to n requests/s, on
        # 104,000 Maia 200 chips (26,000 TP4 replicas of Llama-3.1-70B), with failures on
        conv = 19_366 / 3_502.4  # the trace's mean rate (requests/s)
        return ms.from_dict({
            "name": "day", "seed": 1, "horizon_s": 86_400.0,
            "hardware": {"chip": "maia200", "chips": 104_000}, "model": "llama-3.1-70b",
            "precision": {"weights": "fp8", "activations": "fp8", "kv_cache": "fp8"},
            "deployment": {"tensor_parallel": 4, "stack": "vllm"},
            "workload": [{"name": "conv", "arrival": {
                "type": "trace", "path": "azure:conv", "repeat": True, "time_scale": conv / n}}],
            "cost": {"chip_hour_usd": 4.25},
            "failures": {},  # on, at the published rates (docs/engine.md, "Failures")
        })
    if case.startswith("conv"):
        return ms.load_scenario(ROOT / "scenarios" / "maia200-llama70b-conv.yaml", {
            "hardware.chips": None, "deployment.replicas": 16, "horizon_s": 1e6,
            "engine.fast_forward": case == "conv16",
        })
    # Poisson, Azure-conversation-like lengths (paired samples from the trace), 1,536 TP4 replicas
    replicas = 1536
    rate = 10.0 * replicas  # ~10 requests/s per replica keeps every replica stepping (~0.95)
    return ms.from_dict({
        "name": f"poisson-{n}", "seed": 1, "horizon_s": n / rate,
        "hardware": {"chip": "maia200", "chips": replicas * 4},
        "model": "llama-3.1-70b",
        "precision": {"weights": "fp8", "activations": "fp8", "kv_cache": "fp8"},
        "deployment": {"tensor_parallel": 4},
        "workload": [{"name": "azure-like", "arrival": {"type": "poisson", "rate_per_s": rate},
                      "prompt_tokens": {"type": "trace", "path": "azure:conv"},
                      "output_tokens": {"type": "trace", "path": "azure:conv"}}],
        "cost": {"chip_hour_usd": 4.25},
    })


def run_case(case: str, n: int) -> dict:
    import maiasim as ms

    sc = _scenario(case, n)
    t0 = time.perf_counter()
    res = ms.simulate(sc)
    wall = time.perf_counter() - t0
    s = res.summary.iloc[-1]
    return {
        "case": case, "requests": int(s.requests), "chips": sc.chips, "replicas": sc.replicas,
        "fast_forward": sc.engine.fast_forward, "wall_s": wall, "sim_s": res.duration_s,
        "requests_per_wall_s": s.requests / wall,
        "wall_s_per_sim_hour": wall / (res.duration_s / 3600.0),
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
        "engine_steps": int(res.replicas.steps.sum()), "jumps": int(res.replicas.jumps.sum()),
        "events": int(s.requests) + (len(res.records.steps) if res.records.steps else 0),
        "stepping_frac": float(res.replicas.stepping_frac.mean()), "completed": int(s.completed),
        "tpot_p50_s": float(s.tpot_p50_s),
    }


CASES = [
    ("conv16", 0, "1: Azure conv trace, 16 x TP4 Maia 200, fast-forward"),
    ("conv16-step", 0, "3: same, step by step"),
    ("poisson", 10_000, "4: 10k Poisson, 6,144 chips"),
    ("poisson", 100_000, "4: 100k Poisson, 6,144 chips"),
    ("poisson", 1_000_000, "2/4: 1M Poisson, 6,144 chips"),
    ("day", 100, "13: a day of Azure conv at 100 req/s, 104,000 chips"),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--case")
    ap.add_argument("-n", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="skip the 1M and the day cases")
    ap.add_argument("-o", default=str(HERE / "results.csv"))
    a = ap.parse_args()
    if a.case:
        print(json.dumps(run_case(a.case, a.n)))
        return 0
    import pandas as pd

    rows = []
    for case, n, label in CASES:
        if a.quick and (n >= 1_000_000 or case == "day"):
            continue
        out = subprocess.run([sys.executable, __file__, "--case", case, "-n", str(n)],
                             capture_output=True, text=True,
                             cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": "0"})
        if out.returncode:
            print(out.stderr, file=sys.stderr)
            return out.returncode
        row = json.loads(out.stdout.strip().splitlines()[-1])
        row["label"] = label
        rows.append(row)
        print(f"  {label}: {row['wall_s']:.2f} s", file=sys.stderr)
    df = pd.DataFrame(rows)
    df["machine"] = f"{platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}"
    df.to_csv(a.o, index=False)
    cols = ["label", "requests", "wall_s", "requests_per_wall_s", "wall_s_per_sim_hour",
            "peak_rss_gb", "events", "engine_steps", "jumps"]
    print(df[cols].to_string(index=False, float_format=lambda x: f"{x:,.3g}"))
    ff = df.loc[df.case == "conv16", "wall_s"].iloc[0]
    st = df.loc[df.case == "conv16-step", "wall_s"].iloc[0]
    print(f"\nfast-forward speed-up on case 1: {st / ff:.1f}x (target >= 20x)")
    p = df[df.case == "poisson"].set_index("requests").wall_s
    ks = sorted(p.index)
    for lo, hi in zip(ks, ks[1:], strict=False):
        print(f"wall time growth {lo:,} -> {hi:,} requests: {p[hi] / p[lo]:.1f}x "
              f"(linear = {hi / lo:.0f}x)")
    if 1_000_000 in [int(k) for k in ks] or any(k > 900_000 for k in ks):
        big = df[(df.case == "poisson") & (df.requests > 900_000)].iloc[0]
        print(f"1M requests on 6,144 chips: {big.wall_s:.1f} s wall (target < 60 s), "
              f"{big.peak_rss_gb:.2f} GB peak RSS (target < 4 GB)")
    if (df.case == "day").any():
        d = df[df.case == "day"].iloc[0]
        print(f"a day of traffic ({d.requests:,} requests, {d.chips:,} chips): {d.wall_s:.0f} s "
              f"wall (target < 900 s), {d.events:,} events, {d.peak_rss_gb:.2f} GB peak RSS "
              "(target < 8 GB)")
    print(f"wrote {a.o}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
