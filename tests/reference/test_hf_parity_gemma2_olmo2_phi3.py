#!/usr/bin/env python3
"""Gemma 2, OLMo 2 and Phi-3 against HF eager, on random tiny checkpoints built here with
transformers (f32, CPU) in several shapes (MHA, GQA, MQA; head_dim != hidden / heads;
sliding windows of 32-64 that 1100 tokens pass; soft-capping on and off; bare models
saved without the key prefix):

- q/k/v: `qkgeom capture --dtype f32` at 1, 70 and 1100 tokens equals the q, k, v HF's
  eager_attention_forward receives (post-RoPE; OLMo 2 post whole-projection q/k norm;
  Phi-3 split out of qkv_proj, partial RoPE) to 1e-4; the worst error per architecture
  and length is printed;
- attention statistics at 1100 tokens: `qkgeom score --json`, with --model and with
  --snapshot on the captured file: entropy and sink mass equal those of HF's own
  attention probabilities (output_attentions: HF's mask, scale and soft-capping), and the
  logit std equals numpy's std of HF's q.k times HF's scaling (for Gemma 2 then
  soft-capped, cap tanh(s / cap)) over HF's mask, to 1e-4. Where the attention
  statistics do not soft-cap (no `softcap` key in score's JSON), the soft-capped case's
  statistics are reported as not compared, and the test says so;
- `simplex` on a Phi-3 checkpoint (GQA) writes the same table as on its copy with
  q_proj / k_proj / v_proj split out of qkv_proj by numpy (rows q | k | v).

Config keys left out are covered by test_hf_config_defaults.py (fixtures gemma2, olmo2,
phi3) and the `weights` spectra on Phi-3's fused qkv_proj by test_static_weights.py.
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

TOL = 1e-4
LENGTHS = [1, 70, 1100]
POSITIONS = 1104
VOCAB = 128

# name -> (config class, model class, config keys). Weights at std 0.1 so the logits are
# O(1-10): soft-capping at 5 then bends them, and attention is far from uniform.
CASES = {
    "gemma2_gqa_softcap": ("Gemma2Config", "Gemma2ForCausalLM",
                           dict(hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
                                head_dim=24, num_hidden_layers=3, intermediate_size=96,
                                sliding_window=48, query_pre_attn_scalar=20,
                                attn_logit_softcapping=5.0, final_logit_softcapping=30.0)),
    "gemma2_mqa_bare": ("Gemma2Config", "Gemma2Model",
                        dict(hidden_size=48, num_attention_heads=3, num_key_value_heads=1,
                             head_dim=16, num_hidden_layers=2, intermediate_size=64,
                             sliding_window=32, query_pre_attn_scalar=16,
                             layer_types=["full_attention", "sliding_attention"],
                             attn_logit_softcapping=None, final_logit_softcapping=None,
                             rope_parameters=dict(rope_type="default", rope_theta=5000.0))),
    "olmo2_gqa_bias": ("Olmo2Config", "Olmo2ForCausalLM",
                       dict(hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
                            num_hidden_layers=2, intermediate_size=96, attention_bias=True)),
    "olmo2_mha_headdim_bare": ("Olmo2Config", "Olmo2Model",
                               dict(hidden_size=48, num_attention_heads=4, num_key_value_heads=4,
                                    head_dim=20, num_hidden_layers=2, intermediate_size=64,
                                    rope_parameters=dict(rope_type="default", rope_theta=500.0))),
    "olmo2_mqa": ("Olmo2Config", "Olmo2ForCausalLM",
                  dict(hidden_size=64, num_attention_heads=4, num_key_value_heads=1,
                       num_hidden_layers=2, intermediate_size=80)),
    "phi3_gqa_window": ("Phi3Config", "Phi3ForCausalLM",
                        dict(hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
                             num_hidden_layers=2, intermediate_size=96, partial_rotary_factor=0.5,
                             sliding_window=40)),
    "phi3_mqa_headdim_bare": ("Phi3Config", "Phi3Model",
                              dict(hidden_size=64, num_attention_heads=4, num_key_value_heads=1,
                                   head_dim=24, num_hidden_layers=2, intermediate_size=64,
                                   partial_rotary_factor=0.75)),
    "phi3_mha": ("Phi3Config", "Phi3ForCausalLM",
                 dict(hidden_size=48, num_attention_heads=3, num_key_value_heads=3,
                      num_hidden_layers=2, intermediate_size=64, sliding_window=64,
                      rope_parameters=dict(rope_type="default", rope_theta=2000.0))),
}


def build(name, root):
    """A random tiny checkpoint of CASES[name] saved as HF saves it; its directory."""
    cfg_cls, model_cls, keys = CASES[name]
    cfg = getattr(transformers, cfg_cls)(vocab_size=VOCAB, max_position_embeddings=POSITIONS,
                                         initializer_range=0.1, pad_token_id=0, **keys)
    one = 0.0 if name.startswith("gemma2") else 1.0  # Gemma's norms scale by (1 + w)
    return hf_eager.build_random(os.path.join(root, name), cfg, model_cls, name, one, "norm.weight")


def hf_forward(model, ids):
    """HF eager on one prompt: ({'q','k','v'} f32 [layers, heads, S, D], the attention
    probabilities per layer [heads, S, S] f64, per layer (allowed [S, S], scaling), and the
    soft-capping cap HF's eager_attention_forward was given, or None)."""
    masks, caps = {}, set()
    mod = __import__(f"transformers.models.{model.config.model_type}.modeling_"
                     f"{model.config.model_type}", fromlist=["x"])
    eager = mod.eager_attention_forward

    def note_cap(module, q, k, v, mask, *a, **kw):
        caps.add(kw.get("softcap"))
        return eager(module, q, k, v, mask, *a, **kw)

    mod.eager_attention_forward = note_cap
    try:
        with hf_eager.captured_attention(model.config.model_type, masks) as cap, torch.inference_mode():
            out = model(input_ids=torch.tensor([ids]), use_cache=False, output_attentions=True)
    finally:
        mod.eager_attention_forward = eager
    layers = sorted(cap)
    qkv = {t: np.stack([cap[l][i] for l in layers]) for i, t in enumerate("qkv")}
    probs = [a[0].double().numpy() for a in out.attentions]
    (softcap,) = caps
    return qkv, probs, [masks[l] for l in layers], softcap


def score_stats(qkgeom, args):
    """`qkgeom score --json ARGS` attention object, or an error string."""
    r = subprocess.run([qkgeom, "score", "--json", "--device", "cpu"] + args, capture_output=True,
                       text=True, timeout=600)
    if r.returncode != 0:
        return f"exit {r.returncode}: {r.stderr.strip()[-300:]}"
    return json.loads(r.stdout)["attention"]


def check_stats(qkgeom, name, d, ids, snapshot, ref, worst, notes):
    """Statistics at the longest length against HF, from the model and from the captured
    snapshot (which carries the windows and the cap); returns the number of failures."""
    qkv, probs, masks, softcap = ref
    want = hf_eager.reference_attention_stats(qkv, probs, masks, softcap)
    bad = 0
    arch = name.split("_")[0]
    for label, args in (("score --model", ["--model", d, "--ids", ",".join(map(str, ids))]),
                        ("score --snapshot", ["--snapshot", snapshot])):
        got = score_stats(qkgeom, args)
        if isinstance(got, str):
            print(f"FAILED: {name} {label}: {got}")
            bad += 1
            continue
        if softcap is not None and not any("softcap" in k for k in got):
            notes.append(f"{name} {label}: not compared (score does not soft-cap: no softcap key)")
            print(f"NOT COMPARED: {notes[-1]}")
            continue
        for field, ref_v in want.items():
            e = float(np.abs(np.array(got[field]) - ref_v).max())
            worst[(arch, field)] = max(worst.get((arch, field), 0.0), e)
            bad += e > TOL
            print(f"{'ok' if e <= TOL else 'FAILED'}: {name} {label} {field} max |ours - HF| {e:.2g}")
    return bad


def check_case(qkgeom, name, d, tmp, worst, notes):
    """q/k/v at every length; attention statistics at the longest. Returns failures."""
    bad = 0
    arch = name.split("_")[0]
    model = hf_eager.load_model(d)  # default RoPE: no state across prompts
    for n in LENGTHS:
        ids = np.random.default_rng(n).integers(0, VOCAB, n).tolist()
        ref = hf_forward(model, ids)
        snapshot = os.path.join(tmp, f"{name}_{n}.safetensors")
        code, err, ours = hf_eager.qkgeom_capture(qkgeom, d, ids, snapshot)
        if ours is None:
            print(f"FAILED: {name} {n} tokens: capture exit {code}: {err.strip()[-300:]}")
            bad += 1
            continue
        errs = {t: float(np.abs(ours[t] - ref[0][t]).max()) if ours[t].shape == ref[0][t].shape
                else np.inf for t in "qkv"}
        worst[(arch, n)] = max(worst.get((arch, n), 0.0), *errs.values())
        ok = max(errs.values()) <= TOL
        bad += not ok
        print(f"{'ok' if ok else 'FAILED'}: {name} {n:5d} tokens q/k/v max abs error "
              f"q {errs['q']:.2g} k {errs['k']:.2g} v {errs['v']:.2g}")
        if n == LENGTHS[-1]:
            bad += check_stats(qkgeom, name, d, ids, snapshot, ref, worst, notes)
    return bad


def split_phi3(d, dst):
    """The Phi-3 checkpoint in `d` as a Llama one, q/k/v split out of qkv_proj by numpy."""
    from safetensors.numpy import load_file, save_file
    cfg = json.load(open(os.path.join(d, "config.json")))
    hd = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    qd, kd = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd
    w = load_file(os.path.join(d, "model.safetensors"))
    pre = "model." if "model.embed_tokens.weight" in w else ""
    out = {"model.embed_tokens.weight": w[pre + "embed_tokens.weight"]}
    for l in range(cfg["num_hidden_layers"]):
        fused = w[f"{pre}layers.{l}.self_attn.qkv_proj.weight"]
        for name, rows in (("q", fused[:qd]), ("k", fused[qd:qd + kd]), ("v", fused[qd + kd:])):
            out[f"model.layers.{l}.self_attn.{name}_proj.weight"] = np.ascontiguousarray(rows)
        out[f"model.layers.{l}.self_attn.o_proj.weight"] = w[f"{pre}layers.{l}.self_attn.o_proj.weight"]
    os.makedirs(dst)
    save_file(out, os.path.join(dst, "model.safetensors"))
    keys = ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
            "vocab_size", "intermediate_size")
    json.dump(dict({k: cfg[k] for k in keys}, model_type="llama", head_dim=hd, dtype="float32"),
              open(os.path.join(dst, "config.json"), "w"))


def check_simplex_split(qkgeom, name, d, tmp):
    """`simplex` on the fused checkpoint equals `simplex` on its numpy-split Llama copy."""
    import h5py
    llama = os.path.join(tmp, name + "_as_llama")
    split_phi3(d, llama)
    files = []
    for src, tag in ((d, "fused"), (llama, "llama")):
        out = os.path.join(tmp, f"{name}_{tag}_simplex.h5")
        r = subprocess.run([qkgeom, "simplex", "--model", src, "--out", out, "--null-trials", "3",
                            "--device", "cpu"], capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            print(f"FAILED: {name} simplex ({tag}): exit {r.returncode}: {r.stderr.strip()[-300:]}")
            return 1
        files.append(h5py.File(out, "r"))
    cols = [c for c in files[1] if isinstance(files[1][c], h5py.Dataset)]
    bad = [c for c in cols if c not in files[0] or not np.array_equal(files[0][c][()], files[1][c][()],
                                                                      equal_nan=files[1][c].dtype.kind == "f")]
    rows = files[1]["name"].shape[0]
    print(f"{'ok' if cols and not bad else 'FAILED'}: {name} simplex: {len(cols)} columns x {rows} rows, "
          f"{len(bad)} differ from the numpy split {bad[:3]}")
    return 1 if bad or not cols else 0


def run(qkgeom, tmp):
    """Every case; the number of failed checks."""
    failures, worst, notes = 0, {}, []
    for name in CASES:
        d = build(name, tmp)
        failures += check_case(qkgeom, name, d, tmp, worst, notes)
        if name == "phi3_gqa_window":
            failures += check_simplex_split(qkgeom, name, d, tmp)
    print("worst: " + json.dumps({f"{a} {k}": float(f"{e:.3g}") for (a, k), e in worst.items()}))
    for line in notes:
        print("note: " + line)
    return failures


if __name__ == "__main__":
    sys.exit(hf_eager.parity_main(run))
