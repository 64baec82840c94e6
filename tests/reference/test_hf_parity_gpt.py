#!/usr/bin/env python3
"""GPT-2 and GPT-NeoX (Pythia) against HF eager, on random tiny checkpoints built here with
transformers (f32, CPU) in several shapes:

- q/k/v: `qkgeom capture --dtype f32` at 1, 70 and 1100 tokens equals the q, k, v HF's
  attention receives (GPT-2: the c_attn split, no RoPE; GPT-NeoX: post partial RoPE) to
  1e-4; the worst error per architecture and length is printed;
- attention statistics: `qkgeom score --model --json` entropy and sink mass equal those of
  HF's own attention probabilities (output_attentions), and the logit std equals the
  std of HF's q.k times HF's per-layer scale (module.scaling: GPT-2's
  scale_attn_weights and scale_attn_by_inverse_layer_idx), over HF's mask, to 1e-4;
  `capture` then `score --snapshot` gives the same statistics (the per-layer scales travel
  in the snapshot);
- `weights` (static operator geometry): the fused q/k split per head equals numpy's split
  of the same checkpoint written as a Llama one (q_proj / k_proj): every dataset of the two
  STATIC.h5 files is equal (the spectra themselves are checked against numpy for the
  Llama layout by test_static_weights);
- config defaults: with each optional key removed from config.json in turn, qkgeom and
  transformers agree (q/k/v to 1e-4 on a short prompt), or both refuse the checkpoint.
"""
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402
import engine_fork  # noqa: E402

try:
    import torch
    import transformers
    from safetensors.numpy import load_file
    import hf_eager
except ImportError as e:
    rc.skip(f"{e} (make deps installs torch and transformers)")

TOL = 1e-4
LENGTHS = [1, 70, 1100]
POSITIONS = 1104
SHORT = [3, 99, 14, 0, 57, 127, 8, 64, 21]

# name -> (config class, model class, config keys). Shapes differ in heads, head_dim,
# layers; the flags cover scale_attn_by_inverse_layer_idx, reorder_and_upcast_attn,
# scale_attn_weights, rotary_pct 0.25 / 1.0 and parallel residual on / off; the bare
# models (GPT2Model, GPTNeoXModel) save without the key prefix.
CASES = {
    "gpt2_inverse": ("GPT2Config", "GPT2LMHeadModel",
                     dict(n_embd=64, n_head=4, n_layer=3, scale_attn_by_inverse_layer_idx=True)),
    "gpt2_reorder_bare": ("GPT2Config", "GPT2Model",
                          dict(n_embd=48, n_head=3, n_layer=2, n_inner=80,
                               reorder_and_upcast_attn=True, scale_attn_by_inverse_layer_idx=True)),
    "gpt2_unscaled": ("GPT2Config", "GPT2LMHeadModel",
                      dict(n_embd=40, n_head=5, n_layer=2, scale_attn_weights=False)),
    "neox_quarter": ("GPTNeoXConfig", "GPTNeoXForCausalLM",
                     dict(hidden_size=64, num_attention_heads=4, num_hidden_layers=2,
                          intermediate_size=96, rotary_pct=0.25, rotary_emb_base=10000,
                          use_parallel_residual=True)),
    "neox_full_serial_bare": ("GPTNeoXConfig", "GPTNeoXModel",
                              dict(hidden_size=96, num_attention_heads=2, num_hidden_layers=3,
                                   intermediate_size=64, rotary_pct=1.0, rotary_emb_base=500,
                                   use_parallel_residual=False, attention_bias=False)),
}
DEFAULT_CASES = ["gpt2_inverse", "neox_quarter"]
# The keys the modeling reads (dropouts, token ids and initializer ranges do not change a
# forward in eval mode).
MODEL_KEYS = {"n_embd", "n_head", "n_layer", "n_positions", "n_inner", "vocab_size",
              "activation_function", "layer_norm_epsilon", "scale_attn_weights",
              "scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn", "add_cross_attention",
              "hidden_size", "num_attention_heads", "num_hidden_layers", "intermediate_size",
              "max_position_embeddings", "hidden_act", "layer_norm_eps", "use_parallel_residual",
              "attention_bias", "rope_parameters", "dtype", "tie_word_embeddings"}


def build(name, root):
    """A random tiny checkpoint of CASES[name] saved as HF saves it; its directory."""
    cfg_cls, model_cls, keys = CASES[name]
    pos = {"n_positions": POSITIONS} if cfg_cls == "GPT2Config" else {
        "max_position_embeddings": POSITIONS}
    cfg = getattr(transformers, cfg_cls)(vocab_size=128, layer_norm_epsilon=1e-5, **pos, **keys)
    return hf_eager.build_random(os.path.join(root, name), cfg, model_cls, name)


def hf_forward(model, ids):
    """HF eager on one prompt: {'q','k','v'} f32 [layers, heads, S, D], the attention
    probabilities per layer, and per layer (allowed [S, S], scaling) from HF's mask."""
    gpt2 = model.config.model_type == "gpt2"
    mod = __import__(f"transformers.models.{model.config.model_type}.modeling_"
                     f"{model.config.model_type}", fromlist=["x"])
    seen, masks = {}, {}

    def keep(module, q, k, v, mask, scaling):
        seen[module.layer_idx] = [t[0].detach().float().numpy().copy() for t in (q, k, v)]
        m = mask[0, 0].detach()
        masks[module.layer_idx] = ((m if m.dtype == torch.bool else m == 0).numpy(), scaling)

    eager = mod.eager_attention_forward

    def wrapped(module, q, k, v, mask, *a, **kw):
        keep(module, q, k, v, mask, kw.get("scaling"))
        return eager(module, q, k, v, mask, *a, **kw)

    reorder = mod.GPT2Attention._upcast_and_reordered_attn if gpt2 else None

    def wrapped_reorder(self, q, k, v, mask=None):
        keep(self, q, k, v, mask, self.scaling)
        return reorder(self, q, k, v, mask)

    mod.eager_attention_forward = wrapped
    if gpt2:
        mod.GPT2Attention._upcast_and_reordered_attn = wrapped_reorder
    try:
        with torch.inference_mode():
            out = model(input_ids=torch.tensor([ids]), use_cache=False, output_attentions=True)
    finally:
        mod.eager_attention_forward = eager
        if gpt2:
            mod.GPT2Attention._upcast_and_reordered_attn = reorder
    layers = sorted(seen)
    qkv = {t: np.stack([seen[l][i] for l in layers]) for i, t in enumerate("qkv")}
    probs = [a[0].double().numpy() for a in out.attentions]
    return qkv, probs, [masks[l] for l in layers]


def qkgeom_run(qkgeom, args):
    r = subprocess.run([qkgeom] + args, capture_output=True, text=True, timeout=600)
    return r.returncode, r.stdout, r.stderr


def capture(qkgeom, d, ids, out):
    """(snapshot tensors, stderr) of `qkgeom capture`, forked from a started engine
    (engine_fork.py), or (None, why)."""
    r = engine_fork.run([qkgeom, "capture", "--model", d, "--ids", ",".join(map(str, ids)),
                         "--out", out, "--dtype", "f32", "--device", "cpu"], timeout=600)
    code, err = r.returncode, r.stderr
    return (load_file(out), err) if code == 0 else (None, f"exit {code}: {err.strip()[-300:]}")


def check_case(qkgeom, name, d, tmp, worst):
    """q/k/v at every length; attention statistics at the longest. Returns failures."""
    bad = 0
    model = hf_eager.load_model(d)  # no state across prompts: GPT-2 has no RoPE, GPT-NeoX default RoPE
    for n in LENGTHS:
        ids = np.random.default_rng(n).integers(0, 128, n).tolist()
        ref, probs, masks = hf_forward(model, ids)
        snap_path = os.path.join(tmp, f"{name}_{n}.safetensors")
        ours, err = capture(qkgeom, d, ids, snap_path)
        if ours is None:
            print(f"FAILED: {name} {n} tokens: capture {err}")
            bad += 1
            continue
        errs = {t: float(np.abs(ours[t] - ref[t]).max()) for t in "qkv"}
        arch = name.split("_")[0]
        worst[(arch, n)] = max(worst.get((arch, n), 0.0), *errs.values())
        ok = max(errs.values()) <= TOL
        bad += not ok
        print(f"{'ok' if ok else 'FAILED'}: {name} {n:5d} tokens q/k/v max abs error "
              f"q {errs['q']:.2g} k {errs['k']:.2g} v {errs['v']:.2g}")
        if n != LENGTHS[-1]:
            continue
        want = hf_eager.reference_attention_stats(ref, probs, masks)
        id_arg = ",".join(map(str, ids))
        for label, args in (("score --model", ["--model", d, "--ids", id_arg]),
                            ("score --snapshot", ["--snapshot", snap_path])):
            code, out, err = qkgeom_run(qkgeom, ["score", "--json", "--device", "cpu"] + args)
            if code != 0:
                print(f"FAILED: {name} {label}: exit {code}: {err.strip()[-300:]}")
                bad += 1
                continue
            got = json.loads(out)["attention"]
            for field, ref_v in want.items():
                e = float(np.abs(np.array(got[field]) - ref_v).max())
                worst[(arch, field)] = max(worst.get((arch, field), 0.0), e)
                bad += e > TOL
                print(f"{'ok' if e <= TOL else 'FAILED'}: {name} {label} {field} "
                      f"max |ours - HF| {e:.2g}")
    return bad


def check_defaults(qkgeom, name, d, tmp):
    """Each optional key of config.json removed in turn: same q/k/v as HF, or both refuse."""
    cfg = json.load(open(os.path.join(d, "config.json")))
    bad = 0
    for key in sorted(cfg):
        if key not in MODEL_KEYS:
            continue
        v = os.path.join(tmp, f"{name}_no_{key}")
        os.makedirs(v)
        os.symlink(os.path.join(d, "model.safetensors"), os.path.join(v, "model.safetensors"))
        json.dump({k: x for k, x in cfg.items() if k != key}, open(os.path.join(v, "config.json"), "w"))
        try:
            ref = hf_forward(hf_eager.load_model(v), SHORT)[0]
        except Exception as e:  # noqa: BLE001 (HF refuses: shapes no longer match, ...)
            ref, why = None, str(e).splitlines()[0][:120]
        ours, err = capture(qkgeom, v, SHORT, os.path.join(v, "snap.safetensors"))
        if ref is None or ours is None:
            ok = ref is None and ours is None
            print(f"{'ok' if ok else 'FAILED'}: {name} without {key}: HF "
                  f"{'refuses (' + why + ')' if ref is None else 'loads'}, qkgeom "
                  f"{'refuses' if ours is None else 'loads'}")
        else:
            e = max(float(np.abs(ours[t] - ref[t]).max()) for t in "qkv")
            ok = e <= TOL
            print(f"{'ok' if ok else 'FAILED'}: {name} without {key}: q/k/v max error {e:.2g}")
        bad += not ok
    return bad


def split_as_llama(d, dst):
    """The checkpoint in `d` as a Llama one with q_proj / k_proj split by numpy."""
    from safetensors.numpy import save_file
    cfg = json.load(open(os.path.join(d, "config.json")))
    gpt2 = cfg["model_type"] == "gpt2"
    H = cfg["n_embd" if gpt2 else "hidden_size"]
    heads = cfg["n_head" if gpt2 else "num_attention_heads"]
    layers = cfg["n_layer" if gpt2 else "num_hidden_layers"]
    D = H // heads
    w = load_file(os.path.join(d, "model.safetensors"))
    out = {}
    for l in range(layers):
        if gpt2:  # Conv1D [in][3 H]: columns q | k | v
            fused = next(v for k, v in w.items() if k.endswith(f"h.{l}.attn.c_attn.weight"))
            q, k = fused[:, :H].T, fused[:, H:2 * H].T
        else:  # [heads, 3, D, in]
            fused = next(v for k, v in w.items()
                         if k.endswith(f"layers.{l}.attention.query_key_value.weight"))
            per = fused.reshape(heads, 3, D, H)
            q, k = per[:, 0].reshape(H, H), per[:, 1].reshape(H, H)
        out[f"model.layers.{l}.self_attn.q_proj.weight"] = np.ascontiguousarray(q)
        out[f"model.layers.{l}.self_attn.k_proj.weight"] = np.ascontiguousarray(k)
    os.makedirs(dst)
    save_file(out, os.path.join(dst, "model.safetensors"))
    json.dump({"model_type": "llama", "hidden_size": H, "num_hidden_layers": layers,
               "num_attention_heads": heads, "intermediate_size": 4, "vocab_size": 8,
               "dtype": "float32"}, open(os.path.join(dst, "config.json"), "w"))


def check_static(qkgeom, name, d, tmp):
    """`weights` on the fused checkpoint equals `weights` on its numpy-split Llama copy."""
    import h5py
    llama = os.path.join(tmp, name + "_as_llama")
    split_as_llama(d, llama)
    files = []
    for src, tag in ((d, "fused"), (llama, "llama")):
        out = os.path.join(tmp, f"{name}_{tag}.h5")
        code, _, err = qkgeom_run(qkgeom, ["weights", "--model", src, "--out", out, "--device", "cpu"])
        if code != 0:
            print(f"FAILED: {name} weights ({tag}): exit {code}: {err.strip()[-300:]}")
            return 1
        files.append(h5py.File(out, "r"))
    names = []
    files[1].visit(lambda n: names.append(n) if isinstance(files[1][n], h5py.Dataset) else None)
    bad = [n for n in names if n not in files[0] or not np.array_equal(files[0][n][()], files[1][n][()])]
    print(f"{'ok' if names and not bad else 'FAILED'}: {name} weights: {len(names)} datasets, "
          f"{len(bad)} differ from the numpy split {bad[:3]}")
    return 1 if bad or not names else 0


def run(qkgeom, tmp):
    """Every case; the number of failed checks."""
    failures, worst = 0, {}
    for name in CASES:
        d = build(name, tmp)
        failures += check_case(qkgeom, name, d, tmp, worst)
        if name in DEFAULT_CASES:
            failures += check_defaults(qkgeom, name, d, tmp)
            failures += check_static(qkgeom, name, d, tmp)
    print("worst: " + json.dumps({f"{a} {k}": float(f"{e:.3g}") for (a, k), e in worst.items()}))
    return failures


if __name__ == "__main__":
    sys.exit(hf_eager.parity_main(run))
