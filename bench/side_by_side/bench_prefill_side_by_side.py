#!/usr/bin/env python3
"""Prefill throughput side by side: qkgeom's runtime against HF transformers (issue 3).

Builds (once, cached under --workdir) a random-init Qwen3 checkpoint of a real model's shape
with HF transformers, saved in bf16 safetensors. For each prompt length S: random token ids;
HF's base model (AutoModel: no lm_head, use_cache=False) forward in torch.inference_mode with
attn_implementation "eager" and "sdpa", best of --repeats after one warm-up; qkgeom's
`score --model DIR --ids ... --json`, best of --repeats of timing.prefill_s (plus the
process wall time). Tokens/s = S / time. Also checks agreement once, at the shortest S:
`qkgeom capture` against HF's post-RoPE k (layer 0 and the last) and v_proj output (layer 0).

Usage: bench/side_by_side/bench_prefill_side_by_side.py [--shape qwen3-0.6b|qwen3-4b] [--layers N]
           [--seqs 128,512] [--dtype f32|bf16] [--device cpu|cuda] [--repeats 3]
           [--workdir DIR] [--qkgeom BIN] [--json-out FILE] [--markdown-out FILE]
"""
import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import transformers
from safetensors.numpy import load_file
from transformers import AutoModel, Qwen3Config, Qwen3ForCausalLM
import transformers.models.qwen3.modeling_qwen3 as qwen3_modeling

ROOT = Path(__file__).resolve().parents[2]
QKGEOM = ROOT / "build" / "qkgeom"
SEED = 1234

# Qwen3 shapes. The vocabulary is cut from 151936 to 32000 for both: only the embedding
# gather touches it in a base-model prefill, and it saves time and memory building the file.
SHAPES = {
    "qwen3-0.6b": dict(hidden_size=1024, num_hidden_layers=28, num_attention_heads=16,
                       num_key_value_heads=8, head_dim=128, intermediate_size=3072,
                       tie_word_embeddings=True),
    "qwen3-4b": dict(hidden_size=2560, num_hidden_layers=36, num_attention_heads=32,
                     num_key_value_heads=8, head_dim=128, intermediate_size=9728,
                     tie_word_embeddings=True),
}
VOCAB = 32000
DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16}


def build_checkpoint(shape, layers, workdir):
    """Random-init checkpoint (fixed seed) in bf16; reused when already there."""
    cfg = dict(SHAPES[shape])
    if layers:
        cfg["num_hidden_layers"] = layers
    path = Path(workdir) / f"{shape}-L{cfg['num_hidden_layers']}"
    if (path / "config.json").exists() and (path / "model.safetensors").exists():
        return path
    torch.manual_seed(SEED)
    config = Qwen3Config(vocab_size=VOCAB, max_position_embeddings=40960, rope_theta=1e6,
                         rms_norm_eps=1e-6, **cfg)
    model = Qwen3ForCausalLM(config).to(torch.bfloat16)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path, safe_serialization=True)
    del model
    os.sync()  # the fresh file's write-back would otherwise overlap the first timings
    return path


def random_ids(seq):
    g = torch.Generator().manual_seed(SEED + seq)
    return torch.randint(0, VOCAB, (seq,), generator=g).tolist()


def load_hf(path, attn, dtype, device):
    model = AutoModel.from_pretrained(path, attn_implementation=attn, dtype=DTYPES[dtype])
    return model.to(device).eval()


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def time_hf(model, ids, device, repeats):
    """Seconds of one base-model forward: the warm-up call, then each of repeats."""
    x = torch.tensor([ids], device=device)
    times = []
    with torch.inference_mode():
        for _ in range(repeats + 1):
            sync(device)
            t0 = time.perf_counter()
            model(input_ids=x, use_cache=False)
            sync(device)
            times.append(time.perf_counter() - t0)
    return times[0], times[1:]


def time_qkgeom(qkgeom, path, ids, device, dtype, repeats, extra_env):
    """Per run of the binary `qkgeom`: prefill_ms, process wall s, and load_ms less
    prefill_ms (weights, ids)."""
    env = dict(os.environ, **extra_env)
    cmd = [str(qkgeom), "score", "--model", str(path), "--ids", ",".join(map(str, ids)),
           "--json", "--device", device, "--dtype", dtype]
    prefill, wall, load = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
        wall.append(time.perf_counter() - t0)
        timing = json.loads(out)["timing"]
        prefill.append(timing["prefill_s"] * 1e3)
        load.append((timing["load_s"] - timing["prefill_s"]) * 1e3)
    return prefill, wall, load


def agreement(qkgeom, path, ids, device, dtype, workdir):
    """Max abs error of `qkgeom capture`'s k (layer 0, last) and v (layer 0) against HF eager."""
    model = load_hf(path, "eager", dtype, device)
    post_rope_k, v0 = [], []
    original = qwen3_modeling.apply_rotary_pos_emb

    def recording(q, k, cos, sin, *a, **kw):
        q2, k2 = original(q, k, cos, sin, *a, **kw)
        post_rope_k.append(k2[0].float().cpu().numpy())
        return q2, k2

    hook = model.layers[0].self_attn.v_proj.register_forward_hook(
        lambda mod, inp, out: v0.append(out[0].float().cpu().numpy()))
    qwen3_modeling.apply_rotary_pos_emb = recording
    try:
        with torch.inference_mode():
            model(input_ids=torch.tensor([ids], device=device), use_cache=False)
    finally:
        qwen3_modeling.apply_rotary_pos_emb = original
        hook.remove()
    out = Path(workdir) / f"capture-{path.name}-S{len(ids)}-{dtype}.safetensors"
    subprocess.run([str(qkgeom), "capture", "--model", str(path), "--ids",
                    ",".join(map(str, ids)), "--out", str(out), "--device", device,
                    "--dtype", dtype], check=True, capture_output=True)
    ours = load_file(str(out))
    kv, hd = model.config.num_key_value_heads, model.config.head_dim
    hf_v0 = v0[0].reshape(len(ids), kv, hd).transpose(1, 0, 2)  # [kv_heads, S, head_dim]
    last = model.config.num_hidden_layers - 1
    res = {"S": len(ids), "v_layer0": float(np.abs(ours["v"][0] - hf_v0).max())}
    if len(post_rope_k) == model.config.num_hidden_layers:
        res["k_layer0"] = float(np.abs(ours["k"][0] - post_rope_k[0]).max())
        res[f"k_layer{last}"] = float(np.abs(ours["k"][last] - post_rope_k[last]).max())
    del model
    return res


class StageClock:
    """Seconds of each named stage since the previous one (`stages`), printed to stderr as
    each ends."""

    def __init__(self):
        self.stages, self._t0 = {}, time.perf_counter()

    def __call__(self, name):
        self.stages[name] = time.perf_counter() - self._t0
        print(f"{name}: {self.stages[name]:.1f} s", file=sys.stderr, flush=True)
        self._t0 = time.perf_counter()


def machine_info(device, qkgeom=QKGEOM):
    cpu, flags = platform.processor(), []
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                flags = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in have]
                break
    except OSError:
        pass
    env = subprocess.run([str(qkgeom), "env"], capture_output=True, text=True).stdout
    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(shlex.quote(a) for a in sys.argv),
        "cpu": cpu, "cpu_flags": flags, "cores": os.cpu_count(), "torch": torch.__version__,
        "transformers": transformers.__version__, "torch_threads": torch.get_num_threads(),
        "qkgeom_env": [l.strip() for l in env.splitlines() if l.strip()],
    }
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def fmt(x):
    return f"{x:,.0f}".replace(",", " ")


def markdown(res):
    a, info = res["args"], res["machine"]
    lines = [
        f"# Prefill throughput: qkgeom vs HF transformers ({info['date']})", "",
        f"Command: `{info['command']}`", "",
        f"Machine: {info['cpu']} ({' '.join(info['cpu_flags'])}), {info['cores']} cores"
        + (f", {info['gpu']}" if "gpu" in info else "")
        + f"; torch {info['torch']} ({info['torch_threads']} threads), "
        f"transformers {info['transformers']}; qkgeom: {'; '.join(info['qkgeom_env'])}", "",
        f"Model: random-init {a['shape']} shape, {res['layers']} layers, vocab {VOCAB} "
        f"(checkpoint bf16, compute {a['dtype']}, device {a['device']}). Best of "
        f"{a['repeats']}; HF after one warm-up (base model, use_cache=False). qkgeom = "
        "`score` timing.prefill_s: the first prefill in a fresh process (no warm-up), and it "
        "includes copying every layer's q/k/v to host f32, which HF does not do. "
        "qkgeom wall = the whole process (start, weight load, prefill, scoring). qkgeom "
        f"environment: {' '.join(a['qkgeom_env']) or 'as inherited'}.", "",
        "| shape | S | HF eager tok/s | HF sdpa tok/s | qkgeom tok/s | qkgeom / HF eager "
        "| qkgeom / HF sdpa | qkgeom wall s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in res["rows"]:
        lines.append(
            f"| {a['shape']} L{res['layers']} | {r['S']} | {fmt(r['hf_eager_tok_s'])} | "
            f"{fmt(r['hf_sdpa_tok_s'])} | {fmt(r['qkgeom_tok_s'])} | "
            f"{r['ratio_vs_eager']:.2f}x | {r['ratio_vs_sdpa']:.2f}x | {r['qkgeom_wall_s']:.2f} |")
    warm = "; ".join(f"S={r['S']} {r['hf_eager_warmup_s'] * 1e3:.0f} / "
                     f"{r['hf_sdpa_warmup_s'] * 1e3:.0f}" for r in res["rows"])
    spread = "; ".join(f"S={r['S']} " + ", ".join(f"{x:.0f}" for x in r["qkgeom_runs_prefill_ms"])
                       for r in res["rows"])
    lines += ["", f"HF warm-up call, ms (eager / sdpa; the first S's is the first call after "
              f"loading): {warm}. qkgeom prefill_ms per run: {spread}."]
    ag = res["agreement"]
    errs = ", ".join(f"{k} {v:.2e}" for k, v in ag.items() if k != "S")
    lines += ["", f"Agreement at S = {ag['S']} (max abs error, qkgeom capture vs HF eager, "
              f"{a['dtype']}): {errs}.", ""]
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shape", choices=sorted(SHAPES), default="qwen3-0.6b")
    p.add_argument("--layers", type=int, default=0, help="truncate to N layers (0: all)")
    p.add_argument("--seqs", default="128,512")
    p.add_argument("--dtype", choices=sorted(DTYPES), default=None,
                   help="compute dtype (default f32 on cpu, the parity tests' precision; bf16 "
                        "on cuda). CPUs with AVX512_BF16 or AMX run bf16 several times faster")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--workdir", default="/tmp/qkgeom_prefill_bench")
    p.add_argument("--qkgeom", default=str(QKGEOM), help="the qkgeom binary")
    p.add_argument("--qkgeom-env", action="append", default=[], metavar="KEY=VALUE",
                   help="environment for the timed qkgeom runs (e.g. OMP_WAIT_POLICY=PASSIVE)")
    p.add_argument("--json-out")
    p.add_argument("--markdown-out")
    a = p.parse_args()
    a.dtype = a.dtype or ("f32" if a.device == "cpu" else "bf16")
    seqs = [int(s) for s in a.seqs.split(",")]
    qk_env = dict(kv.split("=", 1) for kv in a.qkgeom_env)

    path = build_checkpoint(a.shape, a.layers, a.workdir)
    layers = json.loads((path / "config.json").read_text())["num_hidden_layers"]
    print(f"checkpoint: {path}", file=sys.stderr)
    ids = {s: random_ids(s) for s in seqs}

    rows = {s: {"S": s} for s in seqs}
    for attn in ("eager", "sdpa"):
        model = load_hf(path, attn, a.dtype, a.device)
        for s in seqs:
            first, runs = time_hf(model, ids[s], a.device, a.repeats)
            t = min(runs)
            rows[s].update({f"hf_{attn}_s": t, f"hf_{attn}_tok_s": s / t,
                            f"hf_{attn}_warmup_s": first, f"hf_{attn}_runs_s": runs})
            print(f"HF {attn} S={s}: {t * 1e3:.1f} ms (warm-up {first * 1e3:.1f})",
                  file=sys.stderr)
        del model
    for s in seqs:
        prefill, walls, loads = time_qkgeom(a.qkgeom, path, ids[s], a.device, a.dtype, a.repeats, qk_env)
        ms, wall = min(prefill), min(walls)
        r = rows[s]
        r.update(qkgeom_prefill_ms=ms, qkgeom_wall_s=wall, qkgeom_load_ms=min(loads),
                 qkgeom_tok_s=s / (ms / 1e3), qkgeom_runs_prefill_ms=prefill)
        r["ratio_vs_eager"] = r["qkgeom_tok_s"] / r["hf_eager_tok_s"]
        r["ratio_vs_sdpa"] = r["qkgeom_tok_s"] / r["hf_sdpa_tok_s"]
        print(f"qkgeom S={s}: {ms:.1f} ms (process {wall:.2f} s)", file=sys.stderr)

    res = {"args": vars(a), "layers": layers, "vocab": VOCAB, "checkpoint": str(path),
           "machine": machine_info(a.device, a.qkgeom), "rows": [rows[s] for s in seqs],
           "agreement": agreement(a.qkgeom, path, ids[min(seqs)], a.device, a.dtype, a.workdir)}
    md = markdown(res)
    print(md)
    if a.json_out:
        Path(a.json_out).write_text(json.dumps(res, indent=2) + "\n")
    if a.markdown_out:
        Path(a.markdown_out).write_text(md)


if __name__ == "__main__":
    main()
