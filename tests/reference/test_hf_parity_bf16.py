#!/usr/bin/env python3
"""bf16 parity with HF eager: `qkgeom capture --dtype bf16` against transformers loaded
with dtype=torch.bfloat16 (eager attention, CPU), every layer's post-RoPE q, k, v.

Parity in bf16 means HF's arithmetic: the same roundings in the same order (Gemma norm
weights rounded to bf16 before 1 + w in f32; BERT's word + token-type + position sum in
HF's order; BERT and GPT-2 softmax in bf16, the others in f32; OLMo 2 rotates q and k in
f32). So the test asks for bitwise equality, on the tiny fixtures of every architecture at 1, 70 and 1100 tokens (past
every sliding window), random GPT-2 / GPT-NeoX checkpoints, and the real Gemma 3 270M at
6 and 600 tokens when `make model` has built it. The count of differing values is printed.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402

try:
    import torch  # noqa: F401 (skips without it)
    import hf_eager
    import test_hf_parity_gpt as gpt
    import test_hf_parity_long as long_ref
except ImportError as e:
    rc.skip(f"{e} (make deps installs torch and transformers)")

FIXTURES = ["llama3", "llama_linear", "mistral", "qwen2", "qwen3", "qwen3_yarn", "gemma3_text", "bert",
            "gemma2", "olmo2", "phi3"]
GPT_CASES = ["gpt2_inverse", "gpt2_unscaled", "neox_quarter", "neox_full_serial_bare"]
LENGTHS = [1, 70, 1100]
GEMMA3_270M = os.path.join(rc.BINARY_DIR, "models", "gemma3-270m")


def compare(qkgeom, d, lengths, tmp, label):
    """Failures (count) of one model directory: bf16 capture vs HF bf16 at each length."""
    model = hf_eager.load_model(d, "bfloat16")
    vocab = min(model.config.vocab_size, 128) if label != "gemma3-270m" else 20000
    failures = 0
    for n in lengths:
        ids = np.random.default_rng(n).integers(0, vocab, n).tolist()
        ref = hf_eager.qkv(model, ids)
        code, err, ours = hf_eager.qkgeom_capture(
            qkgeom, d, ids, os.path.join(tmp, f"{label}_{n}.safetensors"), rc.DEVICE, "bf16")
        if ours is None:
            print(f"FAILED: {label} {n} tokens: capture exit {code}: {err.strip()[-400:]}")
            failures += 1
            continue
        diff = {t: int((ours[t] != ref[t]).sum()) for t in "qkv"}
        worst = max(float(np.abs(ours[t] - ref[t]).max()) for t in "qkv")
        bad = sum(diff.values()) > 0
        failures += bad
        print(f"{'FAILED' if bad else 'ok'}: {label} {n:5d} tokens: values differing "
              f"q {diff['q']}/{ours['q'].size} k {diff['k']}/{ours['k'].size} "
              f"v {diff['v']}/{ours['v'].size}, max abs error {worst:.3g}")
    return failures


def run(qkgeom, tmp):
    """Every fixture, GPT case and the real model; the number of failed checks."""
    failures = 0
    for name in FIXTURES:
        failures += compare(qkgeom, long_ref.long_copy(name, tmp), LENGTHS, tmp, name)
    for name in GPT_CASES:
        failures += compare(qkgeom, gpt.build(name, tmp), LENGTHS, tmp, name)
    if os.path.isdir(GEMMA3_270M):
        failures += compare(qkgeom, GEMMA3_270M, [6, 600], tmp, "gemma3-270m")
    else:
        print(f"note: {GEMMA3_270M} absent (make model builds it); real-model case not run")
    return failures


if __name__ == "__main__":
    sys.exit(hf_eager.parity_main(run))
