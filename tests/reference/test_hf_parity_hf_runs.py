#!/usr/bin/env python3
"""Inputs transformers 5.x runs that qkgeom refused before, against HF eager (CPU), on random
tiny checkpoints (max_position_embeddings 32):

- prompts past max_position_embeddings on RoPE models (45 tokens): HF computes the rotary
  embedding at any position (dynamic NTK recomputes theta, longrope takes long_factor past
  their lengths), so `qkgeom capture` must run and give HF's q, k, v bitwise (f32), for
  every RoPE architecture and rope type: Llama default / linear / dynamic / llama3 / yarn,
  Phi-3 longrope, Mistral, Qwen2, Qwen3, Gemma 2, Gemma 3, OLMo 2, GPT-NeoX; with one
  stderr warning (none for dynamic);
- learned absolute positions (GPT-2, BERT): HF raises past the table, so qkgeom must
  refuse with exit 3 naming config.json's max_position_embeddings;
- Gemma 3 with attn_logit_softcapping 0.5: HF 5.x's Gemma3Attention passes no softcap to
  its attention, so its attention weights do not change (checked, so that this fails when
  HF starts applying it); qkgeom must run with a warning, give HF's q, k, v, and `score
  --snapshot` must give HF's own attention entropy and sink mass (uncapped) within 1e-4;
- refused, exit 3 naming the field, where HF runs a different model or cannot run: BERT
  position_embedding_type relative_key (HF 5.x ignores the key: its output equals the
  absolute model's, checked) and GPT-NeoX rotary_pct giving 5 of 16 rotary dims (HF's cos
  then spans 6 dims with frequencies spaced for 5, checked).
"""
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402

try:
    import torch
    import transformers
    import hf_eager
except ImportError as e:
    rc.skip(f"{e} (make deps installs torch and transformers)")

V, N, TOL = 128, 45, 1e-4
BASE = dict(hidden_size=64, num_attention_heads=4, num_key_value_heads=2, num_hidden_layers=2,
            intermediate_size=96, vocab_size=V, max_position_embeddings=32, initializer_range=0.1)
MHA = {k: v for k, v in BASE.items() if k != "num_key_value_heads"}
GEMMA = dict(BASE, head_dim=16, query_pre_attn_scalar=16, sliding_window=24)


def rope(**keys):
    return dict(BASE, rope_parameters=dict(rope_theta=10000.0, **keys))


LONGROPE = dict(rope_type="longrope", rope_theta=1e4, original_max_position_embeddings=16,
                short_factor=[1.0, 1.1, 1.3, 1.5, 2.0, 2.5, 3.0, 4.0],
                long_factor=[1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0])
# name -> (config class, model class, config keys)
PAST = {
    "llama_default": ("LlamaConfig", "LlamaForCausalLM", BASE),
    "llama_linear": ("LlamaConfig", "LlamaForCausalLM", rope(rope_type="linear", factor=2.0)),
    "llama_dynamic": ("LlamaConfig", "LlamaForCausalLM", rope(rope_type="dynamic", factor=2.0)),
    "llama_llama3": ("LlamaConfig", "LlamaForCausalLM",
                     rope(rope_type="llama3", factor=4.0, low_freq_factor=1.0, high_freq_factor=4.0,
                          original_max_position_embeddings=16)),
    "llama_yarn": ("LlamaConfig", "LlamaForCausalLM",
                   rope(rope_type="yarn", factor=2.0, original_max_position_embeddings=16)),
    "phi3_longrope": ("Phi3Config", "Phi3ForCausalLM", dict(BASE, pad_token_id=0, rope_parameters=LONGROPE)),
    "mistral": ("MistralConfig", "MistralForCausalLM", dict(BASE, sliding_window=None)),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM", BASE),
    "qwen3": ("Qwen3Config", "Qwen3ForCausalLM", BASE),
    "gemma2": ("Gemma2Config", "Gemma2ForCausalLM", GEMMA),
    "gemma3": ("Gemma3TextConfig", "Gemma3ForCausalLM", GEMMA),
    "olmo2": ("Olmo2Config", "Olmo2ForCausalLM", BASE),
    "neox": ("GPTNeoXConfig", "GPTNeoXForCausalLM", dict(MHA, rotary_pct=0.5)),
}
LEARNED = {
    "gpt2": ("GPT2Config", "GPT2LMHeadModel", dict(n_embd=64, n_head=4, n_layer=2, vocab_size=V, n_positions=32)),
    "bert": ("BertConfig", "BertModel", MHA),
}


def build(root, name, spec, **extra):
    """The random checkpoint of (config class, model class, keys) plus `extra` keys."""
    cfg_cls, model_cls, keys = spec
    gemma = cfg_cls.startswith("Gemma")
    cfg = getattr(transformers, cfg_cls)(**dict(keys, **extra))
    return hf_eager.build_random(os.path.join(root, name), cfg, model_cls, name,
                                 0.0 if gemma else 1.0, "norm.weight" if gemma else "weight")


def variant(d, root, name, **keys):
    """A checkpoint with d's weights (linked) and d's config.json with `keys` set; its directory."""
    with open(os.path.join(d, "config.json")) as f:
        j = json.load(f)
    j.update(keys)
    out = os.path.join(root, name)
    os.makedirs(out)
    for f in os.listdir(d):
        if f != "config.json":
            os.symlink(os.path.join(d, f), os.path.join(out, f))
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(j, f)
    return out


def ids_of(n):
    return np.random.default_rng(n).integers(1, V, n).tolist()


def compare_qkv(qkgeom, tmp, name, d, ids, warn):
    """1 unless capture runs, prints a warning line iff `warn`, and equals HF eager's q, k, v
    bitwise; else 0. Prints one line."""
    ref = hf_eager.qkv(hf_eager.load_model(d), ids)
    code, err, ours = hf_eager.qkgeom_capture(qkgeom, d, ids, os.path.join(tmp, f"{name}.safetensors"))
    if ours is None:
        print(f"FAILED: {name} {len(ids)} tokens: capture exit {code}: {err.strip()[-300:]}")
        return 1
    worst = max(float(np.abs(ours[t] - ref[t]).max()) for t in "qkv")
    warned = "qkgeom: warning:" in err
    bad = worst != 0.0 or warned != warn
    print(f"{'FAILED' if bad else 'ok'}: {name} {len(ids)} tokens: max |q/k/v - HF| {worst:.3g}, "
          f"warning {'printed' if warned else 'none'}")
    return int(bad)


def check_learned(qkgeom, tmp, name, spec):
    """1 unless HF raises past the position table and capture exits 3 naming
    max_position_embeddings; else 0."""
    d = build(tmp, name, spec)
    try:
        hf_eager.qkv(hf_eager.load_model(d), ids_of(N))
        print(f"FAILED: {name}: HF now runs {N} tokens past 32 positions; compare instead")
        return 1
    except (IndexError, RuntimeError):
        pass
    code, err, _ = hf_eager.qkgeom_capture(qkgeom, d, ids_of(N), os.path.join(tmp, "r.safetensors"))
    ok = code == 3 and "config.json's max_position_embeddings 32" in err
    print(f"{'ok' if ok else 'FAILED'}: {name} past its positions: HF raises, qkgeom exit {code}")
    return int(not ok)


def hf_gemma3_probs(d, ids):
    """HF eager's attention probabilities [heads, S, S] per layer and its q/k/v."""
    model = hf_eager.load_model(d)
    with hf_eager.captured_attention("gemma3_text"), torch.inference_mode():
        out = model(input_ids=torch.tensor([ids]), use_cache=False, output_attentions=True)
    return [a[0].double().numpy() for a in out.attentions]


def check_gemma3_softcap(qkgeom, tmp):
    """Gemma 3 with attn_logit_softcapping 0.5: HF ignores it; qkgeom's q/k/v and score's
    entropy and sink mass equal HF's. Returns failures."""
    ids = ids_of(20)
    d = build(tmp, "gemma3_softcap", PAST["gemma3"], attn_logit_softcapping=0.5, max_position_embeddings=64)
    plain = variant(d, tmp, "gemma3_plain", attn_logit_softcapping=None)
    probs, probs_plain = hf_gemma3_probs(d, ids), hf_gemma3_probs(plain, ids)
    moved = max(float(np.abs(a - b).max()) for a, b in zip(probs, probs_plain))
    bad = int(moved != 0.0)
    print(f"{'FAILED' if bad else 'ok'}: gemma3 softcap 0.5: HF's attention moves by {moved:.3g} (0: HF ignores it)")
    bad += compare_qkv(qkgeom, tmp, "gemma3_softcap", d, ids, True)
    r = subprocess.run([qkgeom, "score", "--json", "--device", "cpu", "--snapshot",
                        os.path.join(tmp, "gemma3_softcap.safetensors")], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"FAILED: gemma3 softcap score: exit {r.returncode}: {r.stderr.strip()[-300:]}")
        return bad + 1
    got = json.loads(r.stdout)["attention"]
    want = {"entropy": [(-(p * np.log(np.where(p > 0, p, 1.0))).sum(-1)).mean(-1) for p in probs],
            "sink_mass": [p[:, :, 0].mean(-1) for p in probs]}
    for field, ref in want.items():
        e = float(np.abs(np.array(got[field]) - np.array(ref)).max())
        bad += e > TOL
        print(f"{'ok' if e <= TOL else 'FAILED'}: gemma3 softcap score {field} max |ours - HF| {e:.2g}")
    return bad


def check_refused(qkgeom, tmp, name, d, key, hf_runs_other):
    """1 unless capture exits 3 naming config.json and `key` while `hf_runs_other()` (HF's
    behaviour that makes refusing right) holds; else 0."""
    code, err, _ = hf_eager.qkgeom_capture(qkgeom, d, ids_of(10), os.path.join(tmp, "r.safetensors"))
    why = hf_runs_other()
    ok = code == 3 and "config.json" in err and f"'{key}'" in err and why is None
    print(f"{'ok' if ok else 'FAILED'}: {name}: exit {code}: {err.strip()[-240:]}{'' if why is None else '; ' + why}")
    return int(not ok)


def bert_relative_ignored(d, tmp):
    """None when HF runs relative_key BERT exactly as the absolute model (the key ignored)."""
    ids = ids_of(10)
    absolute = variant(d, tmp, "bert_absolute", position_embedding_type="absolute")
    a, b = hf_eager.qkv(hf_eager.load_model(d), ids), hf_eager.qkv(hf_eager.load_model(absolute), ids)
    same = all(np.array_equal(a[t], b[t]) for t in "qkv")
    return None if same else "HF now computes relative_key differently from absolute: implement it"


def neox_odd_width(d):
    """None when HF's cos for 5 rotary dims spans 6 (the off-by-one qkgeom refuses)."""
    model = hf_eager.load_model(d)
    cos, _ = model.rotary_emb(torch.zeros(1, 4, 64), torch.arange(4)[None])
    return None if cos.shape[-1] == 6 else f"HF's cos now spans {cos.shape[-1]} dims: match it"


def run(qkgeom, tmp):
    failures = 0
    for name, spec in PAST.items():
        failures += compare_qkv(qkgeom, tmp, name, build(tmp, name, spec), ids_of(N), name != "llama_dynamic")
    for name, spec in LEARNED.items():
        failures += check_learned(qkgeom, tmp, name, spec)
    failures += check_gemma3_softcap(qkgeom, tmp)
    bert = build(tmp, "bert_relative", LEARNED["bert"], position_embedding_type="relative_key",
                 max_position_embeddings=64)
    failures += check_refused(qkgeom, tmp, "bert relative_key", bert, "position_embedding_type",
                              lambda: bert_relative_ignored(bert, tmp))
    neox = build(tmp, "neox_odd", PAST["neox"], rotary_pct=5 / 16, max_position_embeddings=64)
    failures += check_refused(qkgeom, tmp, "neox 5 rotary dims", neox, "rope_parameters.partial_rotary_factor",
                              lambda: neox_odd_width(neox))
    return failures


if __name__ == "__main__":
    sys.exit(hf_eager.parity_main(run))
