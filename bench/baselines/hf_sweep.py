#!/usr/bin/env python3
"""A probe sweep the straightforward HF transformers + PyTorch way: the baseline that
`qkgeom sweep` is timed against (bench/side_by_side/bench_sweep_side_by_side.py, issue 4).

What a researcher would write for the same job: load the base model (AutoModel, eager
attention), then per probe one forward pass (batch 1, torch.inference_mode,
use_cache=False) that records every layer's post-RoPE q and k (by wrapping
`modeling_qwen3.apply_rotary_pos_emb`) and v (a forward hook on v_proj); then the
Bone-Orientation metrics with the numpy reference (tests/reference/bo_reference.py, default mode)
and the attention statistics per (layer, query head) with a plain torch softmax of
q k^T * scale under a causal mask (definitions: tests/reference/attention_stats_reference.py;
query head h reads KV head h // (Hq / Hkv)), and one row per probe appended with h5py.

Probes: JSONL with pre-tokenized ids, `{"id": "p0", "ids": [..]}` (as `qkgeom sweep`
reads them). Prints one JSON summary: done, tokens, seconds (model load to file closed),
probes_per_s, tokens_per_s and timing {setup_s (load), prefill_s (forward passes, synced),
analysis_s (q/k/v to host f32 numpy, BO metrics, attention statistics), io_s (h5py)}.

Usage: hf_sweep.py --model DIR --probes FILE.jsonl --out R.h5 [--device cpu|cuda]
                   [--dtype f32|bf16] [--limit N] [--threads N]
"""
import argparse
import json
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import torch
from transformers import AutoModel
import transformers.models.qwen3.modeling_qwen3 as qwen3_modeling

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent / "tests" / "reference"))
import bo_reference  # noqa: E402

DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16}


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def read_probes(path, limit):
    probes = []
    for line in Path(path).read_text().splitlines():
        if line.strip():
            obj = json.loads(line)
            probes.append((str(obj["id"]), [int(t) for t in obj["ids"]]))
    return probes[:limit] if limit else probes


def attention_stats(q, k, scale):
    """q [L, Hq, S, d], k [L, Hkv, S, d] (torch, f32) -> entropy, logit std, sink [L, Hq]."""
    layers, hq, seq, _ = q.shape
    group = hq // k.shape[1]
    causal = torch.ones(seq, seq, dtype=torch.bool, device=q.device).tril()
    n = torch.arange(1, seq + 1, device=q.device, dtype=q.dtype)
    ent, std, sink = [], [], []
    for layer in range(layers):
        kl = k[layer].repeat_interleave(group, dim=0)            # [Hq, S, d]
        s = torch.matmul(q[layer], kl.transpose(1, 2)) * scale    # [Hq, S, S]
        s = s.masked_fill(~causal, float("-inf"))
        p = torch.softmax(s, dim=-1)
        logp = torch.log_softmax(s, dim=-1)
        ent.append(-(torch.where(causal, p * logp, torch.zeros_like(p))).sum(-1).mean(-1))
        s0 = torch.where(causal, s, torch.zeros_like(s))
        mean = s0.sum(-1) / n
        var = torch.where(causal, (s - mean[..., None]) ** 2, torch.zeros_like(s)).sum(-1) / n
        std.append(var.sqrt().mean(-1))
        sink.append(p[..., 0].mean(-1))
    return [torch.stack(x).double().cpu().numpy() for x in (ent, std, sink)]


class Writer:
    """Per-probe rows appended to resizable h5py datasets, created at the first row."""

    def __init__(self, path):
        self.f = h5py.File(path, "w")
        self.n = 0

    def append(self, row):
        for name, value in row.items():
            value = np.asarray(value)
            if name not in self.f:
                dtype = h5py.string_dtype() if value.dtype.kind in "US" else value.dtype
                self.f.create_dataset(name, shape=(0,) + value.shape, dtype=dtype,
                                      maxshape=(None,) + value.shape, chunks=True)
            ds = self.f[name]
            ds.resize(self.n + 1, axis=0)
            ds[self.n] = value
        self.n += 1

    def close(self):
        self.f.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--probes", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="f32")
    p.add_argument("--limit", type=int, default=0, help="first N probes only (0: all)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's)")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    probes = read_probes(a.probes, a.limit)

    t_start = time.perf_counter()
    model = AutoModel.from_pretrained(a.model, attn_implementation="eager",
                                      dtype=DTYPES[a.dtype]).to(a.device).eval()
    cfg = model.config
    scale = cfg.head_dim ** -0.5
    qs, ks, vs = [], [], []
    original = qwen3_modeling.apply_rotary_pos_emb

    def recording(q, k, cos, sin, *args, **kwargs):
        q2, k2 = original(q, k, cos, sin, *args, **kwargs)
        qs.append(q2[0])                      # [Hq, S, d]
        ks.append(k2[0])                      # [Hkv, S, d]
        return q2, k2

    def v_hook(mod, inp, out):                # [1, S, Hkv * d] -> [Hkv, S, d]
        vs.append(out[0].view(out.shape[1], cfg.num_key_value_heads, cfg.head_dim)
                  .transpose(0, 1))

    hooks = [layer.self_attn.v_proj.register_forward_hook(v_hook) for layer in model.layers]
    qwen3_modeling.apply_rotary_pos_emb = recording
    writer = Writer(a.out)
    sync(a.device)
    t = {"setup_s": time.perf_counter() - t_start, "prefill_s": 0.0, "analysis_s": 0.0,
         "io_s": 0.0}
    tokens = 0
    try:
        with torch.inference_mode():
            for pid, ids in probes:
                qs.clear(), ks.clear(), vs.clear()
                t0 = time.perf_counter()
                model(input_ids=torch.tensor([ids], device=a.device), use_cache=False)
                sync(a.device)
                t1 = time.perf_counter()
                q = torch.stack(qs).float()   # [L, Hq, S, d]
                k = torch.stack(ks).float()
                v = torch.stack(vs).float()
                snap = {"q": q.cpu().numpy(), "k": k.cpu().numpy(), "v": v.cpu().numpy()}
                bo = bo_reference.analyse(snap, compat=False)
                ent, std, sink = attention_stats(q, k, scale)
                t2 = time.perf_counter()
                row = {"probe/id": pid, "probe/tokens": np.int64(len(ids))}
                for name in ("composite", "composite_exact", "mean_coherence",
                             "mean_cross_alignment", "mean_head_entropy", "phase_lock_score",
                             "joint_collapse_count", "features", "layer_coherence",
                             "layer_cross_alignment", "head_entropy", "mean_value_coherence",
                             "value_phase_lock_score", "mean_kv_coupling",
                             "layer_value_coherence", "layer_kv_coupling", "features7"):
                    row["bo/" + name] = np.asarray(bo[name])
                row.update({"attention/entropy": ent, "attention/logit_std": std,
                            "attention/sink_mass": sink,
                            "attention/mean_entropy": ent.mean(),
                            "attention/mean_logit_std": std.mean(),
                            "attention/mean_sink_mass": sink.mean()})
                writer.append(row)
                t3 = time.perf_counter()
                t["prefill_s"] += t1 - t0
                t["analysis_s"] += t2 - t1
                t["io_s"] += t3 - t2
                tokens += len(ids)
        t0 = time.perf_counter()
        writer.close()
        t["io_s"] += time.perf_counter() - t0
    finally:
        qwen3_modeling.apply_rotary_pos_emb = original
        for h in hooks:
            h.remove()
    seconds = time.perf_counter() - t_start
    print(json.dumps({
        "done": len(probes), "tokens": tokens, "seconds": seconds,
        "probes_per_s": len(probes) / seconds, "tokens_per_s": tokens / seconds,
        "timing": t, "device": a.device, "dtype": a.dtype, "out": a.out,
        "torch": torch.__version__, "torch_threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
