#!/usr/bin/env python3
"""Attention statistics per (layer, query head), the straightforward PyTorch way, timed
side by side with `qkgeom score --snapshot ... --json` (its timing.attention_ms).

The torch way: per layer and query head, the full S x S logits with one matmul, a
causal mask, torch.softmax, then entropy, logit std and sink mass from the S x S
probabilities (float32, as the model's activations; float64 with --dtype f64).

Usage: attention_stats_torch.py [--seq 512 2048 8192] [--layers 1] [--device cpu|cuda]
                                [--qkgeom build/qkgeom] [--dtype f32|f64] [--repeat 3]
Makes a Qwen3-4B-shaped snapshot (32 query heads, 8 KV heads, head_dim 128) per S under
--work-dir, prints one line per S with both times (best of --repeat), their ratio and the largest
difference of the means.
"""
import argparse
import json
import math
import os
import subprocess
import time

import numpy as np
import torch
from safetensors.numpy import save_file

Q_HEADS, KV_HEADS, DIM = 32, 8, 128


def torch_stats(q, k, device, dtype):
    """q [L, Hq, S, d], k [L, Hkv, S, d] (numpy f32) -> (entropy, std, sink) [L, Hq]."""
    layers, hq, seq, dim = q.shape
    group = hq // k.shape[1]
    scale = 1.0 / math.sqrt(dim)
    out = np.zeros((3, layers, hq))
    causal = torch.ones(seq, seq, dtype=torch.bool, device=device).tril()
    n = torch.arange(1, seq + 1, device=device, dtype=dtype)
    for layer in range(layers):
        ql = torch.from_numpy(q[layer]).to(device=device, dtype=dtype)
        kl = torch.from_numpy(k[layer]).to(device=device, dtype=dtype)
        for h in range(hq):
            s = (ql[h] @ kl[h // group].T) * scale
            s = s.masked_fill(~causal, float("-inf"))
            p = torch.softmax(s, dim=-1)
            logp = torch.log_softmax(s, dim=-1)
            ent = -(torch.where(causal, p * logp, torch.zeros_like(p))).sum(-1)
            s0 = torch.where(causal, s, torch.zeros_like(s))
            mean = s0.sum(-1) / n
            var = (torch.where(causal, (s - mean[:, None]) ** 2, torch.zeros_like(s))).sum(-1) / n
            out[0, layer, h] = ent.mean().item()
            out[1, layer, h] = var.sqrt().mean().item()
            out[2, layer, h] = p[:, 0].mean().item()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seq", type=int, nargs="+", default=[512, 2048, 8192])
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="f32", choices=("f32", "f64"))
    ap.add_argument("--qkgeom", default=os.path.join("build", "qkgeom"))
    ap.add_argument("--repeat", type=int, default=3, help="best of N runs (1 at S >= 8192)")
    ap.add_argument("--work-dir", default=os.path.join("build", "bench_attention"))
    a = ap.parse_args()
    dtype = torch.float32 if a.dtype == "f32" else torch.float64
    os.makedirs(a.work_dir, exist_ok=True)
    rng = np.random.default_rng(0)
    warm = rng.standard_normal((1, Q_HEADS, 64, DIM), dtype=np.float32)
    torch_stats(warm, warm[:, :KV_HEADS], a.device, dtype)  # first-call set-up, not timed
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {a.device}, "
          f"{a.dtype}; qkgeom --device {a.device}; Qwen3-4B layer shape, {a.layers} layer(s)")
    for seq in a.seq:
        q = rng.standard_normal((a.layers, Q_HEADS, seq, DIM), dtype=np.float32)
        k = rng.standard_normal((a.layers, KV_HEADS, seq, DIM), dtype=np.float32)
        path = os.path.join(a.work_dir, f"qwen3_4b_S{seq}.safetensors")
        save_file({"q": q, "k": k}, path)
        repeat = a.repeat if seq < 8192 else 1
        torch_ms = ours_ms = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            ref = torch_stats(q, k, a.device, dtype)
            if a.device.startswith("cuda"):
                torch.cuda.synchronize()
            torch_ms = min(torch_ms, (time.perf_counter() - t0) * 1e3)
            proc = subprocess.run([a.qkgeom, "score", "--snapshot", path, "--json", "--device",
                                   a.device], capture_output=True, text=True, check=True)
            ours = json.loads(proc.stdout)
            ours_ms = min(ours_ms, ours["timing"]["attention_ms"])
        diff = max(abs(ours[f"mean_attention_{f}"] - float(ref[i].mean()))
                   for i, f in enumerate(("entropy_nats", "logit_std", "sink_mass")))
        print(f"S={seq:5d}  torch {torch_ms:10.1f} ms  qkgeom {ours_ms:10.1f} ms  "
              f"torch/qkgeom {torch_ms / ours_ms:6.2f}x  max |diff of means| {diff:.2e}")


if __name__ == "__main__":
    main()
