#!/usr/bin/env python3
"""Sweep-like prefill, lone vs packed batches, side by side in one run (issue 16).

Runs build/bench_packed_prefill (32 prompts of 20-200 tokens through capture_snapshots, q/k/v
to host f32 as the sweep does) alternating lone and packed --rounds times per dtype, each
call a fresh process (model load untimed). Reports the best and all times of each and the
ratio lone / packed (> 1: packed is faster).

Usage: bench/side_by_side/bench_packed_prefill_side_by_side.py [--bench build/bench_packed_prefill]
          [--dtypes f32,bf16] [--rounds 2] [--device cpu] [--json-out F] [--markdown-out F]
Model: $QK_BENCH_MODEL, else build/models/gemma3-270m when present, else a tiny fixture."""
import argparse
import json
import os
import subprocess
from pathlib import Path

from benchlib import add_output_args, command_line, cpu_model, utc_now, write_outputs

ROOT = Path(__file__).resolve().parents[2]


def run_one(bench, name, device):
    """(wall s, process CPU s, model) of one benchmark `name` in a fresh process."""
    env = dict(os.environ, QK_BENCH_DEVICE=device)
    out = subprocess.run([str(bench), f"--benchmark_filter=^{name}/", "--benchmark_format=json"],
                         env=env, check=True, capture_output=True, text=True).stdout
    b = json.loads(out)["benchmarks"][0]
    return b["real_time"] / 1e3, b["cpu_time"] / 1e3, b["label"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", default=str(ROOT / "build" / "bench_packed_prefill"))
    ap.add_argument("--dtypes", default="f32,bf16")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    add_output_args(ap)
    a = ap.parse_args()
    info = {"date": utc_now(), "command": command_line(), "cpu": cpu_model(),
            "cores": os.cpu_count(), "device": a.device,
            "loadavg_before": [round(x, 2) for x in os.getloadavg()],
            "commit": subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                     capture_output=True, text=True).stdout.strip()}
    rows = []
    for dtype in a.dtypes.split(","):
        times, cpu = {"lone": [], "packed": []}, {"lone": [], "packed": []}
        for _ in range(a.rounds):
            for mode in ("lone", "packed"):
                s, c, model = run_one(a.bench, f"prefill/{mode}/{dtype}", a.device)
                times[mode].append(s)
                cpu[mode].append(c)
        lone, packed = min(times["lone"]), min(times["packed"])
        cpu_ratio = min(cpu["lone"]) / min(cpu["packed"])
        rows.append({"dtype": dtype, "model": model, "lone_s": times["lone"], "packed_s": times["packed"],
                     "lone_cpu_s": cpu["lone"], "packed_cpu_s": cpu["packed"],
                     "ratio_lone_over_packed": lone / packed, "cpu_ratio_lone_over_packed": cpu_ratio})
        print(f"{dtype}: lone {lone:.2f} s, packed {packed:.2f} s, lone / packed {lone / packed:.2f}x "
              f"(process CPU time {cpu_ratio:.2f}x)", flush=True)
    info["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    md = [f"# Prefill, lone vs packed batches ({info['date']})", "",
          f"Command: `{info['command']}` at {info['commit']}", "",
          f"Machine: {info['cpu']}, {info['cores']} cores, device {a.device}; load average "
          f"{info['loadavg_before']} before, {info['loadavg_after']} after.", "",
          "32 prompts of 20-200 tokens (random ids, fixed seed), capture_snapshots (q/k/v of "
          "every layer to host f32, as the sweep). Best of the rounds, lone and packed alternating; "
          "CPU s: the process's CPU time (all threads).", "",
          "| model | dtype | lone s | packed s | lone / packed | lone CPU s | packed CPU s | CPU ratio |",
          "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        md.append(f"| {Path(r['model']).name} | {r['dtype']} | {min(r['lone_s']):.2f} | "
                  f"{min(r['packed_s']):.2f} | {r['ratio_lone_over_packed']:.2f}x | "
                  f"{min(r['lone_cpu_s']):.2f} | {min(r['packed_cpu_s']):.2f} | "
                  f"{r['cpu_ratio_lone_over_packed']:.2f}x |")
    write_outputs(a, {"machine": info, "results": rows}, md)

if __name__ == "__main__":
    main()
