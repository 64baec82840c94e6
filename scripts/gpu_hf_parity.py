#!/usr/bin/env python3
"""The model runtime on CUDA against HF eager on the same GPU (issue 16), for
scripts/gpu_check.sh: every tiny fixture (tests/fixtures/models) in f32 and bf16, one
prompt of 70 tokens; qkgeom `capture --device cuda --dtype D` vs transformers'
eager_attention_forward inputs (q, k, v) with the model and ids on cuda in the same dtype.

Bounds (max abs error over q, k, v, relative to the largest |value| of the reference):
f32 1e-4 (kernel choice and accumulation order only), bf16 2^-6 (a few bf16 ulps through
the layers: the GPU's kernels differ between libtorch's matmuls and HF's). Prints one line
per model and dtype; exit 1 when any is over its bound, 77 without a GPU or torch.

Usage: scripts/gpu_hf_parity.py [--qkgeom build-gpu/qkgeom] [--dtypes f32,bf16]"""

import argparse
import contextlib
import importlib
import json
import os
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
BOUND = {"f32": 1e-4, "bf16": 2.0**-6}
TORCH_DTYPE = {"f32": "float32", "bf16": "bfloat16"}


@contextlib.contextmanager
def captured(model_type, modules):
    """{layer: (q, k, v)} as f32 numpy, from HF's eager_attention_forward on any device."""
    name = modules[model_type]
    mod = importlib.import_module(f"transformers.models.{name}.modeling_{name}")
    out, original = {}, mod.eager_attention_forward

    def capture(module, query, key, value, *args, **kwargs):
        out[module.layer_idx] = tuple(t[0].detach().float().cpu().numpy() for t in (query, key, value))
        return original(module, query, key, value, *args, **kwargs)

    mod.eager_attention_forward = capture
    try:
        yield out
    finally:
        mod.eager_attention_forward = original


def hf_qkv(model_dir, ids, dtype, hf_eager):
    """HF eager's q, k, v [layers, heads, seq, head_dim] with model and ids on cuda."""
    import torch

    model = hf_eager.load_model(model_dir, TORCH_DTYPE[dtype]).to("cuda")
    with captured(model.config.model_type, hf_eager.MODULES) as cap, torch.inference_mode():
        model(input_ids=torch.tensor([ids], device="cuda"), use_cache=False)
    layers = sorted(cap)
    return {t: np.stack([cap[l][i] for l in layers]) for i, t in enumerate("qkv")}


def check(qkgeom, model_dir, dtype, tmp, hf_eager):
    """(ok, line) of one model in one dtype."""
    with open(os.path.join(model_dir, "config.json")) as f:  # 70 tokens, within the positions
        n = min(70, json.load(f).get("max_position_embeddings", 70))
    ids = np.random.default_rng(70).integers(0, 128, n).tolist()
    ref = hf_qkv(model_dir, ids, dtype, hf_eager)
    code, err, ours = hf_eager.qkgeom_capture(qkgeom, model_dir, ids, os.path.join(tmp, "c.safetensors"), "cuda", dtype)
    name = os.path.basename(model_dir)
    if ours is None:
        return False, f"FAILED: {name} {dtype}: capture exit {code}: {err.strip()[-300:]}"
    scale = max(float(np.abs(ref[t]).max()) for t in "qkv")
    worst = max(float(np.abs(ours[t] - ref[t]).max()) for t in "qkv")
    ok = worst <= BOUND[dtype] * scale
    return ok, (
        f"{'ok' if ok else 'FAILED'}: {name} {dtype} cuda vs HF eager cuda: max abs error "
        f"{worst:.3g} ({worst / scale:.3g} of max |ref| {scale:.3g}; bound {BOUND[dtype]:.3g})"
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qkgeom", default=os.path.join(ROOT, "build", "qkgeom"))
    ap.add_argument("--dtypes", default="f32,bf16")
    a = ap.parse_args()
    try:
        import torch
        import hf_eager
    except ImportError as e:
        print(f"gpu_hf_parity: skipped: {e}")
        return 77
    if not torch.cuda.is_available():
        print("gpu_hf_parity: skipped: torch sees no CUDA device")
        return 77
    hf_eager.quiet_transformers()
    fixtures = os.path.join(ROOT, "tests", "fixtures", "models")
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in sorted(os.listdir(fixtures)):
            for dtype in a.dtypes.split(","):
                try:
                    ok, line = check(a.qkgeom, os.path.join(fixtures, name), dtype, tmp, hf_eager)
                except Exception as e:  # a model HF cannot run here is a failure, named
                    ok, line = False, f"FAILED: {name} {dtype}: {type(e).__name__}: {e}"
                failures += not ok
                print(line, flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
