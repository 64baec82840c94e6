#!/usr/bin/env python3
"""Config variants that real hub checkpoints use, against HF eager (CPU), on random tiny
checkpoints built here with transformers, their config.json then edited the way older or
other exporters write it (4.x spellings, keys left out):

- activations other than the architecture's usual one (hidden_act, hidden_activation,
  activation_function: gelu_pytorch_tanh, relu, quick_gelu, gelu, gelu_new, gelu_fast),
  including Phi-3's fused gate_up MLP; qkgeom refused every one of them before (exit 3).
  Layer 1's q/k/v come through layer 0's MLP, so a wrong activation moves them;
- config.json the way hub checkpoints write it: Gemma 3 4B style (sliding_window_pattern,
  rope_scaling linear, rope_local_base_freq; 7 layers, a 48-token window), Qwen2
  use_sliding_window + max_window_layers without layer_types, Phi-3 longrope with
  partial_rotary_factor, sliding_window and original_max_position_embeddings 64 (prompts
  below and above it), a Llama 4.x yarn with mscale / mscale_all_dim / beta_*, OLMo 2 yarn
  with truncate false, Mistral without a sliding_window key (MistralConfig's 4096);
- a Mistral config.json with layer_types, which transformers' AutoConfig reads as Ministral
  (only the layers named sliding_attention slide); qkgeom slid every layer before. So that
  the check can fail, HF must differ on the same weights without layer_types;
- `qkgeom capture --dtype f32` q, k, v must equal what HF's eager_attention_forward
  receives to 1e-5 relative (the worst error is printed); one variant also in bf16 against
  HF loaded in bf16, bitwise (as test_hf_parity_bf16.py);
- refused, exit 3 naming config.json and the key: an activation ACT2FN has but qkgeom does
  not compute (mish), and Qwen2 or Mistral layer_types naming sliding layers while no
  window is in use (transformers raises on them too; the test checks that HF still does).
"""
import json
import os
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

REL = 1e-5
V = 128
BASE = dict(hidden_size=64, num_attention_heads=4, num_key_value_heads=2, num_hidden_layers=2,
            intermediate_size=96, vocab_size=V, max_position_embeddings=4096, initializer_range=0.1)
GEMMA = dict(BASE, head_dim=16, query_pre_attn_scalar=16, sliding_window=48)
GPT2 = dict(n_embd=64, n_head=4, n_layer=2, vocab_size=V, n_positions=512, initializer_range=0.1)
NEOX = dict(BASE, rotary_pct=0.5)
BERT = dict(BASE, max_position_embeddings=512)
PHI3 = dict(BASE, max_position_embeddings=2048, pad_token_id=0)
SHORT4, LONG4 = [1.0, 1.25, 2.0, 3.0], [1.0, 2.5, 6.0, 12.0]
for d in (GPT2, NEOX, BERT):
    d.pop("num_key_value_heads", None)
for k in ("hidden_size", "num_attention_heads", "num_hidden_layers", "intermediate_size",
          "max_position_embeddings"):
    GPT2.pop(k, None)
DROP = object()


def edit(**keys):
    """A config.json edit: each key set to its value, or removed when DROP."""
    def apply(j):
        for k, v in keys.items():
            j.pop(k, None) if v is DROP else j.__setitem__(k, v)
    return apply


# name -> (config class, model class, config keys, config.json edit, lengths); Gemma's
# norm weights are offsets (1 + w), so theirs are drawn around 0.
CASES = {
    "llama_gelu_pytorch_tanh": ("LlamaConfig", "LlamaForCausalLM",
                                dict(BASE, hidden_act="gelu_pytorch_tanh", tie_word_embeddings=True), None, (90,)),
    "qwen2_quick_gelu": ("Qwen2Config", "Qwen2ForCausalLM", dict(BASE, hidden_act="quick_gelu"), None, (90,)),
    "phi3_gelu_fused_mlp": ("Phi3Config", "Phi3ForCausalLM", dict(PHI3, hidden_act="gelu"), None, (90,)),
    "gemma2_gelu": ("Gemma2Config", "Gemma2ForCausalLM", dict(GEMMA, hidden_activation="gelu"), None, (90,)),
    "gpt2_relu": ("GPT2Config", "GPT2LMHeadModel", dict(GPT2, activation_function="relu"), None, (90,)),
    "neox_gelu_fast": ("GPTNeoXConfig", "GPTNeoXForCausalLM", dict(NEOX, hidden_act="gelu_fast"), None, (90,)),
    "bert_gelu_new": ("BertConfig", "BertModel", dict(BERT, hidden_act="gelu_new"), None, (90,)),
    "gemma3_4b_style": ("Gemma3TextConfig", "Gemma3ForCausalLM", dict(GEMMA, num_hidden_layers=7),
                        edit(layer_types=DROP, sliding_window_pattern=6, rope_parameters=DROP, rope_theta=1e6,
                             rope_local_base_freq=1e4, rope_scaling={"factor": 8.0, "rope_type": "linear"}),
                        (300,)),
    "qwen2_max_window_layers": ("Qwen2Config", "Qwen2ForCausalLM", dict(BASE, num_hidden_layers=3),
                                edit(use_sliding_window=True, sliding_window=64, max_window_layers=1,
                                     layer_types=DROP), (300,)),
    "phi3_longrope_window": ("Phi3Config", "Phi3ForCausalLM", dict(PHI3, sliding_window=47),
                             edit(rope_parameters=DROP, original_max_position_embeddings=64,
                                  partial_rotary_factor=0.5,
                                  rope_scaling={"type": "longrope", "short_factor": SHORT4, "long_factor": LONG4}),
                             (20, 300)),
    "llama_yarn_mscale": ("LlamaConfig", "LlamaForCausalLM", BASE,
                          edit(rope_parameters=DROP, rope_scaling={
                              "type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64,
                              "mscale": 0.707, "mscale_all_dim": 1.0, "beta_fast": 16, "beta_slow": 2}), (300,)),
    "olmo2_yarn_no_truncate": ("Olmo2Config", "Olmo2ForCausalLM", dict(BASE, attention_bias=True),
                               edit(rope_parameters=DROP, rope_scaling={
                                   "rope_type": "yarn", "factor": 8.0, "original_max_position_embeddings": 64,
                                   "truncate": False}), (300,)),
    "mistral_layer_types": ("MistralConfig", "MistralForCausalLM", dict(BASE, sliding_window=50),
                            edit(layer_types=["full_attention", "sliding_attention"]), (300,)),
    "mistral_window_key_missing": ("MistralConfig", "MistralForCausalLM", dict(BASE, sliding_window=None),
                                   edit(sliding_window=DROP, head_dim=DROP), (300,)),
}
BF16 = "phi3_gelu_fused_mlp"
# name -> (config class, model class, keys, edit, the key the refusal must name, HF raises)
REFUSED = {
    "llama_mish": ("LlamaConfig", "LlamaForCausalLM", dict(BASE, hidden_act="mish"), None, "hidden_act", False),
    "qwen2_sliding_types_no_window": (
        "Qwen2Config", "Qwen2ForCausalLM", dict(BASE, num_hidden_layers=3),
        edit(use_sliding_window=False, sliding_window=64,
             layer_types=["full_attention", "sliding_attention", "sliding_attention"]), "layer_types", True),
    "mistral_sliding_types_no_window": (
        "MistralConfig", "MistralForCausalLM", dict(BASE, sliding_window=None),
        edit(layer_types=["full_attention", "sliding_attention"]), "layer_types", True),
}
hf_eager.MODULES.setdefault("ministral", "ministral")  # AutoModel's class for mistral + layer_types


def build(root, name, spec):
    """The random checkpoint of one case, its config.json edited; its directory."""
    cfg_cls, model_cls, keys, change = spec[:4]
    gemma = cfg_cls.startswith("Gemma")
    d = hf_eager.build_random(os.path.join(root, name), getattr(transformers, cfg_cls)(**keys), model_cls,
                              name, 0.0 if gemma else 1.0, "norm.weight" if gemma else "weight")
    if change:
        path = os.path.join(d, "config.json")
        with open(path) as f:
            j = json.load(f)
        change(j)
        with open(path, "w") as f:
            json.dump(j, f, indent=1)
    return d


def compare(qkgeom, tmp, name, d, n, dtype):
    """1 when `capture --dtype dtype` differs from HF eager (f32: by more than REL relative
    to HF's largest value; bf16: at all) on n random ids, else 0; prints one line."""
    ids = np.random.default_rng(n).integers(1, V, n).tolist()
    ref = hf_eager.qkv(hf_eager.load_model(d, "float32" if dtype == "f32" else "bfloat16"), ids)
    code, err, ours = hf_eager.qkgeom_capture(qkgeom, d, ids, os.path.join(tmp, "o.safetensors"), dtype=dtype)
    if ours is None:
        print(f"FAILED: {name} {n} tokens {dtype}: capture exit {code}: {err.strip()[-300:]}")
        return 1
    worst = max(float(np.abs(ours[t] - ref[t]).max() / np.abs(ref[t]).max()) for t in "qkv")
    bad = worst > (REL if dtype == "f32" else 0.0)
    print(f"{'FAILED' if bad else 'ok'}: {name} {n:4d} tokens {dtype}: worst relative error q/k/v {worst:.3g}")
    return int(bad)


def check_refused(qkgeom, tmp, name, spec):
    """1 unless capture exits 3 naming config.json and the key (and HF raises where HF
    refuses the config too), else 0."""
    d = build(tmp, name, spec)
    key, hf_raises = spec[4], spec[5]
    code, err, _ = hf_eager.qkgeom_capture(qkgeom, d, [1, 2, 3], os.path.join(tmp, "r.safetensors"))
    ok = code == 3 and "config.json" in err and f"'{key}'" in err
    if hf_raises:
        try:
            hf_eager.qkv(hf_eager.load_model(d), [1, 2, 3])
            ok = False
            print(f"FAILED: {name}: HF now runs this config; compare instead of refusing")
        except ValueError:
            pass
    print(f"{'ok' if ok else 'FAILED'}: {name}: exit {code}: {err.strip()[-200:]}")
    return int(not ok)


def check_ministral_moves(tmp):
    """1 unless HF's q/k/v of mistral_layer_types move when layer_types is dropped (every
    layer then slides), else 0; prints one line."""
    ids = np.random.default_rng(300).integers(1, V, 300).tolist()
    with_types = hf_eager.qkv(hf_eager.load_model(os.path.join(tmp, "mistral_layer_types")), ids)
    spec = CASES["mistral_layer_types"][:3] + (edit(layer_types=DROP),)
    plain = hf_eager.qkv(hf_eager.load_model(build(tmp, "mistral_layer_types_plain", spec)), ids)
    moved = float(np.abs(with_types["q"] - plain["q"]).max() / np.abs(plain["q"]).max())
    print(f"{'ok' if moved > 1e-3 else 'FAILED'}: mistral layer_types: HF's q moves by {moved:.3g} without them")
    return int(moved <= 1e-3)


def run(qkgeom, tmp):
    """Every case and refusal; the number of failed checks."""
    failures = 0
    for name, spec in CASES.items():
        d = build(tmp, name, spec)
        for n in spec[4]:
            failures += compare(qkgeom, tmp, name, d, n, "f32")
        if name == BF16:
            failures += compare(qkgeom, tmp, name, d, spec[4][-1], "bf16")
    failures += check_ministral_moves(tmp)
    for name, spec in REFUSED.items():
        failures += check_refused(qkgeom, tmp, name, spec)
    return failures


if __name__ == "__main__":
    sys.exit(hf_eager.parity_main(run))
