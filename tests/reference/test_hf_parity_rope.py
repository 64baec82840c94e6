#!/usr/bin/env python3
"""RoPE scaling types that depend on the prompt's length, and GPT-NeoX's scaled types,
against HF eager (f32, CPU) on random tiny checkpoints built here with transformers:

- dynamic (NTK) on Llama, Qwen2 and Mistral; longrope on Llama (default and explicit
  attention_factor); linear, dynamic, llama3, yarn and longrope on GPT-NeoX's partial
  rotary dims; longrope on Phi-3 (partial_rotary_factor);
  Gemma 3 with dynamic global and longrope sliding layers, and the reverse.
- The contexts are small (max_position_embeddings or original_max_position_embeddings
  32), so prompts of 1, 32, 70 and 1100 tokens lie on both sides of them.
- qkgeom runs each prompt on its own; HF's rotary module is stateful (dynamic_rope_update
  keeps max_seq_len_cached across calls), so each prompt is compared with a freshly
  loaded HF model: the meaning docs/model-runtime.md gives.
- `qkgeom capture --dtype f32` post-RoPE q and k must equal what HF's
  eager_attention_forward receives to 1e-4 absolute (the worst error is printed).
- So that the check can fail, the same HF model with the scaling removed (rope_type
  default) must differ from the scaled one by more than 1e-2 on the longest prompt.
"""
import copy
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402

try:
    import torch  # noqa: F401 (skips without it)
    import transformers
    import hf_eager
except ImportError as e:
    rc.skip(f"{e} (make deps installs torch and transformers)")

TOL = 1e-4
LENGTHS = [1, 32, 70, 1100]
SENSITIVE = 1e-2
SHORT8 = [1.0, 1.1, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0]
LONG8 = [1.0, 1.5, 2.5, 4.0, 6.0, 9.0, 12.0, 16.0]
LLAMA = dict(hidden_size=64, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
             num_hidden_layers=2, intermediate_size=96, vocab_size=128, rms_norm_eps=1e-5)
NEOX = dict(hidden_size=64, num_attention_heads=4, num_hidden_layers=2, intermediate_size=96,
            vocab_size=128, rotary_pct=1.0, max_position_embeddings=2048, layer_norm_eps=1e-5)
GEMMA3 = dict(hidden_size=64, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
              num_hidden_layers=2, intermediate_size=96, vocab_size=128, rms_norm_eps=1e-5,
              query_pre_attn_scalar=16, sliding_window=48, max_position_embeddings=32,
              layer_types=["sliding_attention", "full_attention"])
PHI3 = dict(hidden_size=64, num_attention_heads=2, num_key_value_heads=2, num_hidden_layers=2,
            intermediate_size=96, vocab_size=128, rms_norm_eps=1e-5, partial_rotary_factor=0.5,
            max_position_embeddings=2048, original_max_position_embeddings=32, pad_token_id=0)


def longrope(**extra):
    return dict(rope_type="longrope", short_factor=SHORT8, long_factor=LONG8, **extra)


# name -> (config class, model class, config keys, rope parameters)
CASES = {
    "llama_dynamic": ("LlamaConfig", "LlamaForCausalLM", dict(LLAMA, max_position_embeddings=32),
                      dict(rope_type="dynamic", factor=2.0, rope_theta=10000.0)),
    "qwen2_dynamic": ("Qwen2Config", "Qwen2ForCausalLM", dict(LLAMA, max_position_embeddings=32),
                      dict(rope_type="dynamic", factor=3.5, rope_theta=5e5)),
    "mistral_dynamic": ("MistralConfig", "MistralForCausalLM",
                        dict(LLAMA, max_position_embeddings=32, sliding_window=None),
                        dict(rope_type="dynamic", factor=1.7, rope_theta=1e4)),
    "llama_longrope": ("LlamaConfig", "LlamaForCausalLM", dict(LLAMA, max_position_embeddings=2048),
                       longrope(original_max_position_embeddings=32, rope_theta=1e4)),
    "llama_longrope_af": ("LlamaConfig", "LlamaForCausalLM", dict(LLAMA, max_position_embeddings=2048),
                          longrope(original_max_position_embeddings=32, attention_factor=1.3,
                                   factor=8.0, rope_theta=1e4)),
    "neox_linear": ("GPTNeoXConfig", "GPTNeoXForCausalLM", dict(NEOX, rotary_pct=0.5),
                    dict(rope_type="linear", factor=3.0, rope_theta=1e4)),
    "neox_dynamic": ("GPTNeoXConfig", "GPTNeoXForCausalLM",
                     dict(NEOX, rotary_pct=0.5, max_position_embeddings=32),
                     dict(rope_type="dynamic", factor=2.0, rope_theta=1e4)),
    "neox_llama3": ("GPTNeoXConfig", "GPTNeoXForCausalLM", NEOX,
                    dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                         original_max_position_embeddings=32, rope_theta=1e4)),
    "neox_yarn": ("GPTNeoXConfig", "GPTNeoXForCausalLM", dict(NEOX, rotary_pct=0.5),
                  dict(rope_type="yarn", factor=4.0, original_max_position_embeddings=32,
                       rope_theta=1e4)),
    "neox_longrope": ("GPTNeoXConfig", "GPTNeoXForCausalLM", NEOX,
                      longrope(original_max_position_embeddings=32, rope_theta=1e4)),
    "phi3_longrope": ("Phi3Config", "Phi3ForCausalLM", PHI3, longrope(rope_theta=1e4)),
    "gemma3_dynamic_global": ("Gemma3TextConfig", "Gemma3ForCausalLM", GEMMA3, dict(
        full_attention=dict(rope_type="dynamic", factor=2.0, rope_theta=1e6),
        sliding_attention=longrope(original_max_position_embeddings=16, rope_theta=1e4))),
    "gemma3_longrope_global": ("Gemma3TextConfig", "Gemma3ForCausalLM", GEMMA3, dict(
        full_attention=longrope(original_max_position_embeddings=16, attention_factor=1.2, rope_theta=1e6),
        sliding_attention=dict(rope_type="dynamic", factor=3.0, rope_theta=1e4))),
}


def build(name, root, rope, suffix=""):
    """A random tiny checkpoint of CASES[name] with RoPE parameters `rope`; its directory
    (the weights depend on `name` only: the unscaled copy has the same ones)."""
    cfg_cls, model_cls, keys, _ = CASES[name]
    cfg = getattr(transformers, cfg_cls)(rope_parameters=copy.deepcopy(rope), **keys)
    return hf_eager.build_random(os.path.join(root, name + suffix), cfg, model_cls, name)


def unscaled(rope):
    """`rope` with every rope object made default RoPE of the same theta."""
    if "rope_theta" in rope:
        return {"rope_type": "default", "rope_theta": rope["rope_theta"]}
    return {k: unscaled(v) for k, v in rope.items()}


def hf_qk(d, ids):
    """q, k, v (f32 [layers, heads, S, D]) HF's eager attention receives, from a freshly
    loaded model (so dynamic RoPE starts from its initial state)."""
    return hf_eager.qkv(hf_eager.load_model(d), ids)


def check_case(qkgeom, name, tmp):
    """Failures of one case; prints one line per length."""
    rope = CASES[name][3]
    d = build(name, tmp, rope)
    failures = 0
    for n in LENGTHS:
        ids = np.random.default_rng(n).integers(0, 128, n).tolist()
        ref = hf_qk(d, ids)
        code, err, ours = hf_eager.qkgeom_capture(qkgeom, d, ids, os.path.join(tmp, f"{name}_{n}.safetensors"))
        if ours is None:
            print(f"FAILED: {name} {n} tokens: capture exit {code}: {err.strip()[-300:]}")
            failures += 1
            continue
        worst = max(float(np.abs(ours[t] - ref[t]).max()) for t in "qk")
        failures += worst > TOL
        print(f"{'ok' if worst <= TOL else 'FAILED'}: {name} {n:5d} tokens: max abs error q/k {worst:.3g}")
    plain = build(name, tmp, unscaled(rope), "_plain")
    moved = float(np.abs(hf_qk(plain, ids)["q"] - ref["q"]).max())
    status = "ok" if moved > SENSITIVE else "FAILED"
    failures += moved <= SENSITIVE
    print(f"{status}: {name}: without the scaling HF's q moves by {moved:.3g} at {n} tokens")
    shutil.rmtree(d, ignore_errors=True)
    shutil.rmtree(plain, ignore_errors=True)
    return failures


def run(qkgeom, tmp):
    """Every case; the number of failed checks."""
    return sum(check_case(qkgeom, name, tmp) for name in CASES)


if __name__ == "__main__":
    sys.exit(hf_eager.parity_main(run))
