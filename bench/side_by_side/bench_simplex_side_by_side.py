#!/usr/bin/env python3
"""Pentachoron volumes side by side (issue 6): ours (bench_simplex: fp64 Gram determinants,
simplex_volumes_cpu, or the CUDA kernel with --device cuda; best of --repeats) against the seed's way in torch
(gather the 5 points, bmm Gram, squared distances, 6x6 Cayley-Menger matrices, batched
torch.linalg.det in fp32), on the same machine, same B simplices over 4096 random f32 rows of
dimension D (torch: best of --repeats). Prints simplices/s of both and their ratio.

Usage: bench/side_by_side/bench_simplex_side_by_side.py [--bench build/bench_simplex] [--counts 4096,16384]
          [--dims 64,384,1024,4096] [--repeats 5] [--device cpu|cuda] [--json-out F] [--markdown-out F]"""
import argparse
import json
import math
import os
import subprocess
import time
from pathlib import Path

from benchlib import add_output_args, command_line, cpu_model, utc_now, write_outputs

import torch

ROWS = 4096


def machine(device):
    info = {"date": utc_now(), "command": command_line(), "cpu": cpu_model(), "cores": os.cpu_count(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(), "device": device,
            "loadavg": [round(x, 2) for x in os.getloadavg()]}
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def ours(bench, count, dim, device, repeats):
    name = f"^simplex/B:{count}/D:{dim}/{device}/"
    out = subprocess.run([bench, f"--benchmark_filter={name}", "--benchmark_format=json",
                          "--benchmark_min_time=0.2", f"--benchmark_repetitions={repeats}"],
                         capture_output=True, text=True, check=True)
    runs = [b for b in json.loads(out.stdout)["benchmarks"] if b.get("run_type", "iteration") == "iteration"]
    if not runs or "error_message" in runs[0]:
        raise SystemExit(f"{name}: {runs[0].get('error_message') if runs else 'not run'}")
    return max(r["simplices_per_s"] for r in runs)


def seed_volumes(rows, idx):
    pts = rows[idx]
    B, N, _ = pts.shape
    gram = torch.bmm(pts, pts.transpose(1, 2))
    norms = torch.diagonal(gram, dim1=1, dim2=2)
    d2 = torch.nn.functional.relu(norms.unsqueeze(2) + norms.unsqueeze(1) - 2 * gram)
    cm = torch.zeros(B, N + 1, N + 1, device=pts.device, dtype=pts.dtype)
    cm[:, 0, 1:] = 1.0
    cm[:, 1:, 0] = 1.0
    cm[:, 1:, 1:] = d2
    k = N - 1
    return (-1.0) ** (k + 1) * torch.linalg.det(cm.float()) / ((2 ** k) * (math.factorial(k) ** 2))


def torch_rate(count, dim, repeats, device):
    g = torch.Generator().manual_seed(1)
    rows = torch.randn(ROWS, dim, generator=g).to(device)
    idx = torch.stack([torch.randperm(ROWS, generator=g)[:5] for _ in range(count)]).to(device)
    seed_volumes(rows, idx)
    best = float("inf")
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        seed_volumes(rows, idx)
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return count / best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", default=str(Path(__file__).resolve().parents[2] / "build" / "bench_simplex"))
    ap.add_argument("--counts", default="4096,16384")
    ap.add_argument("--dims", default="64,384,1024,4096")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    add_output_args(ap)
    a = ap.parse_args()
    info = machine(a.device)
    results = []
    for count in map(int, a.counts.split(",")):
        for dim in map(int, a.dims.split(",")):
            o = ours(a.bench, count, dim, a.device, a.repeats)
            t = torch_rate(count, dim, a.repeats, a.device)
            results.append({"simplices": count, "dim": dim, "ours_per_s": o, "torch_cm_det_per_s": t,
                            "ratio": o / t})
            print(f"B={count:6d} D={dim:5d}: ours {o:12.4g}/s  torch CM det {t:12.4g}/s  ratio {o / t:6.2f}x",
                  flush=True)
    lines = ["# Simplex volumes: ours vs the seed's Cayley-Menger det (torch)", "",
             f"- date: {info['date']}", f"- device: {a.device}, {info['cpu']}, {info['cores']} cores"
             + (f", {info['gpu']}" if 'gpu' in info else ""),
             f"- torch {info['torch']}, {info['torch_threads']} threads; load average {info['loadavg']}",
             f"- command: `{info['command']}`", "",
             "| simplices | D | ours (simplices/s) | torch CM det (simplices/s) | ratio |", "|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['simplices']} | {r['dim']} | {r['ours_per_s']:.4g} | {r['torch_cm_det_per_s']:.4g} "
                     f"| {r['ratio']:.2f}x |")
    write_outputs(a, {"machine": info, "results": results}, lines)


if __name__ == "__main__":
    main()
