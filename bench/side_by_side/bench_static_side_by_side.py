#!/usr/bin/env python3
"""The static pass (`qkgeom weights`) side by side with the straightforward PyTorch way (issue 5).

Builds (once, cached under --workdir) a random-init checkpoint holding only what the static
pass reads: config.json of the Qwen3-4B shape (36 layers x 32 query heads, 8 KV heads,
head_dim 128, hidden 2560; --layers to cut the depth) and every layer's q_proj / k_proj
weights in f32 safetensors (std 0.02). Then, in one run on the same device:
- ours: `qkgeom weights --json` (wall time, and its split: disk read, spectra, operator
  Gram); the target on an H100 is the whole pass in under 2 s excluding the disk read;
- the baseline: for each (layer, head), g = W_Q^hT W_K^g formed as a hidden x hidden
  matrix and torch.linalg.svdvals(g) in fp64 (and fp32), timed on --baseline-heads heads
  after one untimed warm-up head (library load) and scaled to all of them (the per-head
  cost is the same for every head; a hidden 2560 svdvals takes about 2 s per head in fp64
  on 2 CPU cores, so keep --baseline-heads small: 4 is plenty);
- agreement: the baseline's top-d singular values of those heads against STATIC.h5's.
The seconds of each stage (checkpoint, qkgeom, baseline) go to stderr as they finish and
to the JSON (`stage_s`). On --device cuda the checkpoint's random weights are drawn on the
GPU (seconds, not a minute, for the 1.9 GB of 36 layers).

Usage: bench/side_by_side/bench_static_side_by_side.py [--layers N] [--device cpu|cuda]
          [--baseline-heads N] [--workdir DIR] [--qkgeom BIN] [--json-out F] [--markdown-out F]"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_prefill_side_by_side import QKGEOM, SHAPES, StageClock, machine_info  # noqa: E402

SEED = 4321


def build_checkpoint(layers, workdir, device):
    """The q/k-only checkpoint (f32, std 0.02, seed SEED drawn on `device`); reused when there."""
    shape = dict(SHAPES["qwen3-4b"], num_hidden_layers=layers)
    path = Path(workdir) / f"qwen3-4b-qk-only-{layers}l"
    if (path / "model.safetensors").exists():
        return path, shape
    path.mkdir(parents=True, exist_ok=True)
    g = torch.Generator(device=device).manual_seed(SEED)
    H, d, Hkv, hid = shape["num_attention_heads"], shape["head_dim"], shape["num_key_value_heads"], shape["hidden_size"]
    tensors = {}

    def draw(rows):
        return (torch.randn(rows, hid, generator=g, device=device) * 0.02).cpu()

    for l in range(layers):
        tensors[f"model.layers.{l}.self_attn.q_proj.weight"] = draw(H * d)
        tensors[f"model.layers.{l}.self_attn.k_proj.weight"] = draw(Hkv * d)
    save_file(tensors, str(path / "model.safetensors"))
    config = dict(shape, model_type="qwen3", architectures=["Qwen3ForCausalLM"], vocab_size=32000,
                  max_position_embeddings=40960, rms_norm_eps=1e-6, rope_theta=1000000.0,
                  hidden_act="silu", torch_dtype="float32", attention_bias=False)
    (path / "config.json").write_text(json.dumps(config, indent=1))
    return path, shape


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def baseline(w, shape, device, heads, dtype):
    """svdvals of W_Q^hT W_K^g on the first `heads` (layer, head)s of the weights w, after one
    untimed warm-up: their top-d values, and the mean seconds per head scaled to all heads."""
    L, H, Hkv, d = shape["num_hidden_layers"], shape["num_attention_heads"], shape["num_key_value_heads"], shape["head_dim"]
    picks = [(l, h) for l in range(L) for h in range(H)][:heads]
    sv, secs = {}, 0.0
    for i, (l, h) in enumerate([picks[0]] + picks):
        q = w[f"model.layers.{l}.self_attn.q_proj.weight"][h * d:(h + 1) * d].to(device, dtype)
        k = w[f"model.layers.{l}.self_attn.k_proj.weight"][(h // (H // Hkv)) * d:(h // (H // Hkv) + 1) * d].to(device, dtype)
        sync(device)
        t = time.perf_counter()
        s = torch.linalg.svdvals(q.T @ k)
        sync(device)
        if i == 0:
            continue  # the warm-up: cuSOLVER / LAPACK load and workspace
        secs += time.perf_counter() - t
        sv[(l, h)] = s[:d].double().cpu().numpy()
    return sv, secs / len(picks) * L * H, len(picks)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=36)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--baseline-heads", type=int, default=0, help="heads timed for the baseline (0: all)")
    ap.add_argument("--workdir", default="/tmp/qkgeom-bench")
    ap.add_argument("--qkgeom", default=str(QKGEOM), help="the qkgeom binary")
    ap.add_argument("--json-out")
    ap.add_argument("--markdown-out")
    a = ap.parse_args()
    stage = StageClock()

    path, shape = build_checkpoint(a.layers, a.workdir, a.device)
    stage("checkpoint")
    L, H = shape["num_hidden_layers"], shape["num_attention_heads"]
    out = Path(a.workdir) / f"static-{a.layers}l.h5"
    if out.exists():
        out.unlink()
    r = subprocess.run([a.qkgeom, "weights", "--model", str(path), "--out", str(out), "--device", a.device,
                        "--json"], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"qkgeom weights failed: {r.stderr}")
    ours = json.loads(r.stdout)
    stage("qkgeom_weights")
    heads = a.baseline_heads or L * H
    res = {"machine": machine_info(a.device, a.qkgeom), "layers": L, "heads": H, "device": a.device, "ours": ours,
           "baseline": {}}
    with h5py.File(out, "r") as f:
        exact = f["exact/singular_values"][()]
    w = load_file(str(path / "model.safetensors"))
    for name, dt in (("fp64", torch.float64), ("fp32", torch.float32)):
        sv, secs, n = baseline(w, shape, a.device, heads, dt)
        worst = max(float(np.max(np.abs(s - exact[l, h])) / s[0]) for (l, h), s in sv.items())
        res["baseline"][name] = {"seconds_all_heads": secs, "heads_timed": n, "max_rel_diff_vs_ours": worst}
        stage(f"baseline_{name}")
    res["stage_s"] = stage.stages
    compute = ours["timing"]["spectra_s"] + ours["timing"]["gram_s"]
    res["ratio_fp64"] = res["baseline"]["fp64"]["seconds_all_heads"] / compute
    res["ratio_fp32"] = res["baseline"]["fp32"]["seconds_all_heads"] / compute
    timed = res['baseline']['fp64']['heads_timed']
    scaled = f", scaled from {timed}" if heads < L * H else ""
    lines = [
        f"# Static pass side by side ({a.device}, Qwen3-4B shape, {L} layers x {H} heads)", "",
        f"- date: {res['machine']['date']}; command: `{res['machine']['command']}`",
        f"- machine: {res['machine'].get('gpu', res['machine']['cpu'])}, {res['machine']['cores']} cores, "
        f"torch {res['machine']['torch']}", "",
        "| | seconds |", "|---|---|",
        f"| qkgeom weights, whole pass | {ours['timing']['total_s']:.3f} |",
        f"| of it: disk read | {ours['timing']['read_s']:.3f} |",
        f"| of it: spectra + eigen-structure | {ours['timing']['spectra_s']:.3f} |",
        f"| of it: operator Gram (all layer pairs) | {ours['timing']['gram_s']:.3f} |",
        f"| baseline svdvals of hidden x hidden, fp64 (all heads{scaled}) | "
        f"{res['baseline']['fp64']['seconds_all_heads']:.3f} |",
        f"| baseline svdvals, fp32 | {res['baseline']['fp32']['seconds_all_heads']:.3f} |", "",
        f"Ratio (baseline / ours excluding the disk read): {res['ratio_fp64']:.1f}x against fp64 svdvals, "
        f"{res['ratio_fp32']:.1f}x against fp32. The baseline computes only the exact singular values; "
        "ours also computes the shortcut spectra, the symmetric parts' eigen-structure and the operator Gram.",
        f"Agreement of the exact singular values (max |diff| / sigma_max): fp64 "
        f"{res['baseline']['fp64']['max_rel_diff_vs_ours']:.1e}, fp32 {res['baseline']['fp32']['max_rel_diff_vs_ours']:.1e}.",
    ]
    md = "\n".join(lines) + "\n"
    print(md)
    if a.json_out:
        Path(a.json_out).write_text(json.dumps(res, indent=1, default=float))
    if a.markdown_out:
        Path(a.markdown_out).write_text(md)


if __name__ == "__main__":
    main()
