#!/usr/bin/env python3
"""q/k/v parity with HF eager at real lengths: prompts of 1, 530, 1100 and 4096 tokens on
every architecture (the tiny fixtures with max_position_embeddings raised to 4096, so every
sliding window and the llama3 / yarn original contexts are far behind; BERT is rebuilt with
4096 absolute positions). Each layer's post-RoPE q, k and v from `qkgeom capture --dtype
f32` must equal transformers' eager_attention_forward inputs (f32) to 1e-5 absolute; the
worst error per architecture is printed."""
import json
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402

try:
    import torch
    import transformers
    import hf_eager
    import make_tiny_checkpoints as tiny
except ImportError as e:
    rc.skip(f"{e} (make deps installs torch and transformers)")

MODELS = ["llama3", "llama_linear", "mistral", "qwen2", "qwen3", "qwen3_yarn", "gemma3_text", "bert", "gemma2",
          "olmo2", "phi3"]
LENGTHS = [1, 530, 1100, 4096]
POSITIONS = 4096
TOL = 1e-5  # the issue asks 1e-4; one ulp of an inverse frequency costs ~1.5e-5 here


def long_copy(name, tmp):
    """The fixture with max_position_embeddings = 4096 (BERT: rebuilt with 4096 positions)."""
    src = os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models", name)
    d = os.path.join(tmp, name)
    cfg = json.load(open(os.path.join(src, "config.json")))
    cfg["max_position_embeddings"] = POSITIONS
    if name != "bert":
        os.makedirs(d)
        os.symlink(os.path.join(src, "model.safetensors"), os.path.join(d, "model.safetensors"))
        json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
        return d
    torch.manual_seed(11)
    conf = transformers.BertConfig(**{k: v for k, v in cfg.items() if k in (
        "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
        "vocab_size", "max_position_embeddings", "type_vocab_size", "layer_norm_eps", "hidden_act")})
    model = transformers.BertModel(conf, add_pooling_layer=False).eval().float()
    tiny.randomize_small_params(model, 11)
    model.save_pretrained(d, safe_serialization=True)
    return d


def check_model(qkgeom, name, tmp, worst_at_max):
    """q/k/v of one fixture at every length; the number of failures."""
    d = long_copy(name, tmp)
    model = hf_eager.load_model(d)
    failures = 0
    for n in LENGTHS:
        ids = np.random.default_rng(n).integers(0, 128, n).tolist()
        ref = hf_eager.qkv(model, ids)
        code, err, ours = hf_eager.qkgeom_capture(
            qkgeom, d, ids, os.path.join(tmp, f"{name}_{n}.safetensors"), rc.DEVICE)
        if ours is None:
            print(f"FAILED: {name} {n} tokens: capture exit {code}: {err.strip()[-400:]}")
            failures += 1
            continue
        errs = {t: float(np.abs(ours[t] - ref[t]).max()) for t in "qkv"}
        worst = max(errs.values())
        if n == LENGTHS[-1]:
            worst_at_max[name] = errs
        failures += worst > TOL
        print(f"{'ok' if worst <= TOL else 'FAILED'}: {name} {n:5d} tokens: max abs error "
              f"q {errs['q']:.2g} k {errs['k']:.2g} v {errs['v']:.2g}")
    shutil.rmtree(d, ignore_errors=True)
    return failures


def run(qkgeom, tmp):
    """Every fixture; the number of failed checks."""
    worst_at_max = {}
    failures = sum(check_model(qkgeom, name, tmp, worst_at_max) for name in MODELS)
    print(f"at {LENGTHS[-1]} tokens: " + json.dumps(
        {m: {t: float(f"{e:.3g}") for t, e in v.items()} for m, v in worst_at_max.items()}))
    print(f"{len(MODELS) * len(LENGTHS) - failures} passed")
    return failures


if __name__ == "__main__":
    sys.exit(hf_eager.parity_main(run))
