#!/usr/bin/env python3
"""Whole-process startup, side by side in one run: the front end build/qkgeom (no libtorch,
no CUDA) against build/qkgeom-engine (every command, libtorch and CUDA linked), the CPU-only
engine build/qkgeom-engine-cpu (libtorch_cpu, no CUDA libraries) against qkgeom-engine, and
`score --snapshot --lem-compat` against the seed's own Go on a Gemma3-1B-shaped snapshot.

Cases (each process run REPS times under GNU time; median wall time and the largest peak
RSS):
  --help                      qkgeom vs qkgeom-engine
  score --snapshot SMALL      qkgeom vs qkgeom-engine (tests/fixtures/minilm_demo.safetensors)
  weights TINY                qkgeom vs qkgeom-engine, --device cpu, on the 2-layer Qwen3
                              fixture (tests/fixtures/models/qwen3), --force into one file
  align TINY                  qkgeom vs qkgeom-engine, --json, on that STATIC.h5 (--force)
  env                         qkgeom vs qkgeom-engine, --json
  engine --version            qkgeom-engine-cpu vs qkgeom-engine
  capture TINY                qkgeom (which runs qkgeom-engine-cpu) vs qkgeom-engine, --device
                              cpu, one 8-token prompt of the 2-layer Qwen3 fixture (--force)
  score --lem-compat GEMMA    qkgeom vs the seed's Go harness (tests/reference/seed_go: reads raw
                              f32 keys, prints the seed's BOResult), 26 layers, 1 KV head,
                              d 256, S 1024, random keys; skipped without go or the seed
Prints a table with the ratios baseline / qkgeom; --json-out / --markdown-out save it.

Usage: bench/side_by_side/bench_startup_side_by_side.py [--build build] [--reps 15]
           [--json-out FILE] [--markdown-out FILE]
"""
import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from benchlib import add_output_args, cpu_model, utc_now, write_outputs

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "reference" / "seed_go"))
sys.path.insert(0, str(ROOT / "tests" / "reference"))
GEMMA = (26, 1, 1024, 256)  # layers, kv heads, tokens, head dim


def timed(cmd, reps):
    """(median wall seconds, max peak RSS in MB) of `reps` runs of `cmd` (stdout discarded).
    RSS through GNU time: a child forked from Python would count Python's pages before exec."""
    walls, rss = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "qk-maxrss-kb %M", *cmd], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
        walls.append(time.perf_counter() - t0)
        if p.returncode != 0:
            raise SystemExit(f"{' '.join(map(str, cmd))} exited {p.returncode}: {p.stderr[-400:]}")
        kb = [l for l in p.stderr.splitlines() if l.startswith("qk-maxrss-kb ")][-1].split()[1]
        rss.append(int(kb) / 1024)
    return statistics.median(walls), max(rss)


def gemma_snapshot(folder):
    """A Gemma3-1B-shaped K snapshot (safetensors "k" [L, H, S, D]) and the same keys as raw f32."""
    from safetensors.numpy import save_file
    layers, heads, seq, dim = GEMMA
    rng = np.random.default_rng(0)
    keys = rng.standard_normal((layers, heads, seq, dim), dtype=np.float32)
    snap = os.path.join(folder, "gemma3_1b_s1024.safetensors")
    save_file({"k": keys}, snap)
    raw = os.path.join(folder, "gemma3_1b_s1024.f32")
    keys.tofile(raw)
    return snap, raw


def analysis_cases(qk, engine, folder):
    """The analyses that run no model: the front end runs them in process (no libtorch)."""
    model = str(ROOT / "tests" / "fixtures" / "models" / "qwen3")
    static = os.path.join(folder, "STATIC.h5")
    weights = ["weights", "--model", model, "--out", static, "--device", "cpu", "--force", "--json"]
    subprocess.run([qk, *weights], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    align = ["align", "--static", static, "--json", "--force"]
    return [("weights (tiny Qwen3, cpu)", [qk, *weights], "qkgeom-engine, same", [engine, *weights]),
            ("align (tiny Qwen3)", [qk, *align], "qkgeom-engine, same", [engine, *align]),
            ("env", [qk, "env", "--json"], "qkgeom-engine, same", [engine, "env", "--json"])]


def engine_cases(qk, engine, cpu_engine, folder):
    """The CPU-only engine against the CUDA one: bare start, and a tiny model command through
    the front end (which hands --device cpu to qkgeom-engine-cpu)."""
    model = str(ROOT / "tests" / "fixtures" / "models" / "qwen3")
    capture = ["capture", "--model", model, "--ids", "3,1,4,1,5,9,2,6", "--device", "cpu", "--force", "--out"]
    return [("engine --version (qkgeom-engine-cpu)", [cpu_engine, "--version"], "qkgeom-engine --version",
             [engine, "--version"]),
            ("capture (tiny Qwen3, cpu; qkgeom-engine-cpu)", [qk, *capture, os.path.join(folder, "c.h5")],
             "qkgeom-engine, same", [engine, *capture, os.path.join(folder, "c_engine.h5")])]


def cases(build, folder):
    qk, engine = str(build / "qkgeom"), str(build / "qkgeom-engine")
    small = str(ROOT / "tests" / "fixtures" / "minilm_demo.safetensors")
    out = [("--help", [qk, "--help"], "qkgeom-engine --help", [engine, "--help"]),
           ("score --snapshot (small)", [qk, "score", "--snapshot", small, "--json"],
            "qkgeom-engine, same", [engine, "score", "--snapshot", small, "--json"])]
    out += analysis_cases(qk, engine, folder)
    out += engine_cases(qk, engine, str(build / "qkgeom-engine-cpu"), folder)
    try:
        import seed_go
        seed = seed_go.build(os.path.join(str(build), "seed_go"))
    except Exception as e:  # no go, or no seed file: that case is skipped, said below
        print(f"skipping the seed Go case: {e}")
        return out
    snap, raw = gemma_snapshot(folder)
    layers, heads, seq, dim = GEMMA
    out.append(("score --lem-compat Gemma3-1B S1024", [qk, "score", "--snapshot", snap, "--lem-compat", "--json"],
                "seed Go (lem-attention.go)", [seed, raw, str(layers), str(heads), str(seq), str(dim)]))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=str(ROOT / "build"))
    ap.add_argument("--reps", type=int, default=15)
    add_output_args(ap)
    a = ap.parse_args()
    build = Path(a.build).resolve()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, ours, base_name, base in cases(build, folder):
            t, m = timed(ours, a.reps)
            bt, bm = timed(base, a.reps)
            rows.append({"case": name, "qkgeom_s": t, "qkgeom_rss_mb": m, "baseline": base_name,
                         "baseline_s": bt, "baseline_rss_mb": bm, "ratio": bt / t})
    stamp, cpu = utc_now(), cpu_model()
    head = f"startup side by side, {stamp}, {platform.node()}: {cpu}, {os.cpu_count()} CPUs, median of {a.reps}"
    lines = [head, "", "| case | qkgeom s | RSS MB | baseline | baseline s | RSS MB | ratio |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['case']} | {r['qkgeom_s']:.3f} | {r['qkgeom_rss_mb']:.0f} | {r['baseline']} | "
                     f"{r['baseline_s']:.3f} | {r['baseline_rss_mb']:.0f} | {r['ratio']:.1f}x |")
    print("\n".join(lines))
    write_outputs(a, {"when": stamp, "host": platform.node(), "cpu": cpu, "command": " ".join(sys.argv),
                      "rows": rows}, lines + ["", "Command: `" + " ".join(sys.argv) + "`"])


if __name__ == "__main__":
    main()
