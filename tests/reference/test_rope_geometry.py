#!/usr/bin/env python3
"""`qkgeom rope-geometry` (docs/static-geometry.md, "RoPE-aware operator") against numpy
forming every head's hidden x hidden operator B(D) = Q^T R(-D) K explicitly, in fp64:
- the inverse frequencies come from transformers' own rotary embedding class of each model
  (per layer type: Gemma's sliding layers use the local RoPE), never from qkgeom;
- the convention: x_i^T B(i - j) x_j equals the logit of HF's apply_rotary_pos_emb on the
  projected q_i, k_j (cos, sin from HF's rotary module; attention_scaling divided out);
- singular values, trace and band energies at each offset; band mean energy, share and
  invariant fraction from a discrete Fourier transform of the explicit band energy over a
  period of the angle (the energy is m + a cos(2 theta + phi): harmonics above 2 vanish);
- fixtures of every RoPE architecture (llama3, llama_linear, qwen2, qwen3, qwen3_yarn,
  mistral, gemma3_text, and gemma2 / olmo2 / phi3 where present) and a GPT-NeoX checkpoint
  with rotary_pct 0.25 built here (partial rotary, fused per-head qkv);
- a head built so that its logit peaks at offset d0 (W_K = R(d0) W_Q): tr B(D) is largest
  at D = d0, where it equals ||W_Q||_F^2;
- default offsets, bad input (BERT: exit 3; bad --offsets: exit 2).
The fixtures and the peaked head run on --device $QK_REF_DEVICE (default cpu; scripts/gpu_check.sh
sets cuda: the GPU twin against the same numpy references)."""
import importlib
import json
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402
from refcommon import check  # noqa: E402
from static_reference import DESCRIPTORS, exact_descriptors, load_tensors, qk_weights  # noqa: E402

OFFSETS = [0, 1, 2, 3, 5, 8, 13, 100, 1000, -7]
FIXTURES = ["llama3", "llama_linear", "qwen2", "qwen3", "qwen3_yarn", "mistral", "gemma3_text", "gemma2",
            "olmo2", "phi3"]
MODULES = {"gemma3_text": "gemma3"}
TOL = 1e-9
# Descriptors element-wise, as for `weights`: condition = max s / min s carries the small
# singular values' relative error (about eps * kappa).
LIMITS = {"descriptors": 1e-8}
WORST = {}


def qk(*args):
    return subprocess.run([rc.QKGEOM_BIN, *args], capture_output=True, text=True, timeout=300)


def rel_err(ours, ref, scale):
    err = float(np.max(np.abs(np.asarray(ours) - np.asarray(ref)))) / max(scale, 1e-300)
    return err


def note(name, err):
    WORST[name] = max(WORST.get(name, 0.0), err)


def hf_rotary(model_dir):
    """(config, rotary module, apply_rotary_pos_emb) of transformers' modeling for the model."""
    import transformers
    config = transformers.AutoConfig.from_pretrained(model_dir)
    pkg = MODULES.get(config.model_type, config.model_type)
    mod = importlib.import_module(f"transformers.models.{pkg}.modeling_{pkg}")
    cls = next(getattr(mod, n) for n in dir(mod) if n.endswith("RotaryEmbedding") and n[0] != "_")
    return config, cls(config), mod.apply_rotary_pos_emb


def layer_types(config):
    types = getattr(config, "layer_types", None)
    return list(types) if types else ["full_attention"] * config.num_hidden_layers


def hf_inv_freq(rot, layer_type):
    """HF's inverse frequencies (f32) of one layer type, as float64, and its attention scaling."""
    if hasattr(rot, f"{layer_type}_inv_freq"):
        return (getattr(rot, f"{layer_type}_inv_freq").double().numpy(),
                float(getattr(rot, f"{layer_type}_attention_scaling")))
    return rot.inv_freq.double().numpy(), float(rot.attention_scaling)


def rotation(inv_freq, d, angle_sign_offset):
    """R(D) [d, d] in the rotate-half layout: pair (i, i + r/2) rotated by D inv_freq[i]."""
    r, P = 2 * len(inv_freq), len(inv_freq)
    R = np.eye(d)
    t = angle_sign_offset * inv_freq
    c, s = np.cos(t), np.sin(t)
    i = np.arange(P)
    R[i, i], R[i, i + P], R[i + P, i], R[i + P, i + P] = c, -s, s, c
    assert r <= d
    return R


def neox_weights(model_dir):
    """(cfg, [wq], [wk]) of a GPT-NeoX checkpoint: query_key_value rows per head q | k | v."""
    with open(os.path.join(model_dir, "config.json")) as f:
        c = json.load(f)
    H, N = c["num_attention_heads"], c["hidden_size"]
    d = N // H
    t = load_tensors(model_dir)
    pre = "gpt_neox." if "gpt_neox.embed_in.weight" in t else ""
    wq, wk = [], []
    for l in range(c["num_hidden_layers"]):
        w = np.asarray(t[f"{pre}layers.{l}.attention.query_key_value.weight"], np.float32).astype(np.float64)
        w = w.reshape(H, 3, d, N)
        wq.append(w[:, 0].reshape(H * d, N))
        wk.append(w[:, 1].reshape(H * d, N))
    cfg = dict(layers=c["num_hidden_layers"], heads=H, kv_heads=H, head_dim=d, hidden=N)
    return cfg, wq, wk


def check_convention(name, apply_rope, rot, lt, Q, K, inv_freq, scaling):
    """x_i^T B(i - j) x_j against HF's rotated q_i . k_j for a few (i, j)."""
    import torch
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, Q.shape[1]))
    i, worst = 40, 0.0
    for j in (40, 39, 27, 3):
        pos = torch.tensor([[i, j]])
        args = (torch.zeros(1, 2, Q.shape[1]), pos) + ((lt,) if hasattr(rot, f"{lt}_inv_freq") else ())
        cos, sin = rot(*args)
        q = torch.tensor((Q @ x[0])[None, None, None, :]).float().expand(1, 1, 2, -1)
        k = torch.tensor((K @ x[1])[None, None, None, :]).float().expand(1, 1, 2, -1)
        qr, kr = apply_rope(q, k, cos, sin)
        hf = float((qr[0, 0, 0].double() * kr[0, 0, 1].double()).sum()) / scaling ** 2
        B = Q.T @ rotation(inv_freq, Q.shape[0], -(i - j)) @ K
        ref = float(x[0] @ B @ x[1])
        scale = float(np.abs(Q @ x[0]).sum() * np.abs(K @ x[1]).sum() / Q.shape[0])
        worst = max(worst, abs(hf - ref) / scale)
    check(worst < 1e-5, f"{name}: x_i^T B(i - j) x_j is HF's logit (f32 rope; {worst:.1e} of its scale)")


def band_reference(Qp, Kp, offsets, inv_p):
    """Explicit band energies at the offsets, and mean / amplitude from a 16-point DFT over theta."""
    def energy(t):
        c, s = np.cos(t), np.sin(t)
        Rm = np.array([[c, s], [-s, c]])  # R(-theta)
        return float(np.sum((Qp.T @ Rm @ Kp) ** 2))
    e_off = [energy(o * inv_p) for o in offsets]
    th = np.arange(16) * np.pi / 16
    e = np.array([energy(t) for t in th])
    spec = np.fft.rfft(e) / 16
    mean, amp = spec[0].real, 2 * abs(spec[1])
    resid = float(np.max(np.abs(spec[2:]))) if len(spec) > 2 else 0.0
    return e_off, mean, amp, resid


def check_descriptors(name, f, l, h, o, ref):
    """The seven descriptors of B(D)'s spectrum: 1e-8 relative; condition inf exactly where numpy's."""
    for k in DESCRIPTORS:
        ours, want = float(f[f"operator/{k}"][l, h, o]), float(ref[k])
        if np.isinf(want) or np.isinf(ours):
            if ours != want:
                check(False, f"{name} layer {l} head {h} offset {o}: {k} {ours} vs numpy {want}")
            continue
        note("descriptors", abs(ours - want) / max(abs(want), 1e-300))


def check_head(name, f, l, h, Q, K, inv_freq, offsets):
    """Head (l, h) of the ROPE.h5 whose datasets f holds ({path: array}) against numpy's B(D)."""
    d, hidden = Q.shape
    r = 2 * len(inv_freq)
    sv, tr, be = f["operator/singular_values"][l, h], f["operator/signed_trace"][l, h], f["bands/energy"][l, h]
    for o, off in enumerate(offsets):
        B = Q.T @ rotation(inv_freq, d, -off) @ K
        s = np.linalg.svd(B, compute_uv=False)[:d]
        note("singular_values", rel_err(sv[o], s, s.max()))
        note("signed_trace", rel_err(tr[o], np.trace(B), s.sum()))
        check_descriptors(name, f, l, h, o, exact_descriptors(s, B))
    P = len(inv_freq)
    means = []
    for p in range(P):
        rows = [p, p + P]
        e_off, mean, amp, resid = band_reference(Q[rows], K[rows], offsets, inv_freq[p])
        scale = max(max(e_off), mean, 1e-300)
        note("band_energy", rel_err(be[:, p], e_off, scale))
        note("dft_higher_harmonics", resid / scale)
        note("mean_energy", rel_err(f["bands/mean_energy"][l, h, p], mean, scale))
        frac = 1 - amp / mean if mean > 0 else 1.0
        note("invariant_fraction", abs(f["bands/invariant_fraction"][l, h, p] - min(max(frac, 0), 1)))
        means.append(mean)
    unrot = float(np.sum((Q[r:].T @ K[r:]) ** 2)) if r < d else 0.0
    total = sum(means) + unrot
    note("unrotated_energy", rel_err(f["bands/unrotated_energy"][l, h], unrot, total))
    note("share", rel_err(np.append(f["bands/share"][l, h], f["bands/unrotated_share"][l, h]),
                          np.append(means, unrot) / total, 1.0))


def check_model(name, model_dir, tmp, weights=qk_weights):
    out = os.path.join(tmp, name + ".h5")
    res = qk("rope-geometry", "--model", model_dir, "--offsets", ",".join(map(str, OFFSETS)), "--out", out,
             "--json", "--device", rc.DEVICE)
    check(res.returncode == 0, f"{name}: rope-geometry --device {rc.DEVICE} ({res.stderr.strip()[-300:]})")
    if res.returncode != 0:
        return
    want_device = rc.DEVICE if rc.DEVICE == "cpu" or ":" in rc.DEVICE else "cuda:0"
    js = json.loads(res.stdout)
    check(js["device"] == want_device, f"{name}: --json device {want_device}")
    config, rot, apply_rope = hf_rotary(model_dir)
    cfg, wq, wk = weights(model_dir)
    d, group = cfg["head_dim"], cfg["heads"] // cfg["kv_heads"]
    with h5py.File(out, "r") as f:
        # One name per quantity: the JSON's shape keys are ROPE.h5's attributes, equal to the model's.
        want = {"num_layers": cfg["layers"], "num_heads": cfg["heads"], "num_kv_heads": cfg["kv_heads"]}
        got = {k: (js.get(k), int(f.attrs.get(k, -1))) for k in want}
        check(all(got[k] == (v, v) for k, v in want.items()),
              f"{name}: --json and ROPE.h5 num_layers/num_heads/num_kv_heads equal the config's ({got} vs {want})")
        data = rc.h5_datasets(f)  # the per-head checks index it element by element
        check(list(f["offsets"][:]) == OFFSETS, f"{name}: offsets stored")
        check(f.attrs["device"] == want_device, f"{name}: run record device {want_device}")
        types = layer_types(config)
        for l in range(cfg["layers"]):
            inv, scaling = hf_inv_freq(rot, types[l])
            check(np.array_equal(f["inv_freq"][l], inv), f"{name}: layer {l} ({types[l]}) inv_freq equals HF's")
            check(f["local_rope"][l] == (types[l] == "sliding_attention" and "gemma" in config.model_type),
                  f"{name}: layer {l} local_rope flag")
            for h in range(cfg["heads"]):
                Q = wq[l][h * d:(h + 1) * d]
                K = wk[l][(h // group) * d:(h // group + 1) * d]
                check_head(name, data, l, h, Q, K, inv, OFFSETS)
                if l == 0 and h == 0 or (l == cfg["layers"] - 1 and h == cfg["heads"] - 1):
                    check_convention(f"{name} layer {l} head {h}", apply_rope, rot, types[l], Q, K, inv, scaling)


def build_neox(root):
    import torch
    import transformers
    torch.manual_seed(17)
    cfg = transformers.GPTNeoXConfig(vocab_size=64, hidden_size=64, num_attention_heads=4, num_hidden_layers=2,
                                     intermediate_size=96, rotary_pct=0.25, rotary_emb_base=10000,
                                     max_position_embeddings=256)
    d = os.path.join(root, "neox_quarter")
    transformers.GPTNeoXForCausalLM(cfg).eval().float().save_pretrained(d, safe_serialization=True)
    return d


def build_peaked(root, d0):
    """A Llama checkpoint (MHA) whose layer 0, head 0 has W_K = R(d0) W_Q."""
    import torch
    import transformers
    from safetensors.torch import load_file, save_file
    torch.manual_seed(3)
    cfg = transformers.LlamaConfig(vocab_size=64, hidden_size=48, num_attention_heads=3, num_key_value_heads=3,
                                   num_hidden_layers=1, intermediate_size=64, max_position_embeddings=128,
                                   rope_theta=500.0)
    d = os.path.join(root, "peaked")
    transformers.LlamaForCausalLM(cfg).eval().float().save_pretrained(d, safe_serialization=True)
    path = os.path.join(d, "model.safetensors")
    t = load_file(path)
    _, rot, _ = hf_rotary(d)
    inv = rot.inv_freq.double().numpy()
    hd = 16
    wq = t["model.layers.0.self_attn.q_proj.weight"].double().numpy()
    wk = t["model.layers.0.self_attn.k_proj.weight"].clone()
    wk[:hd] = torch.tensor(rotation(inv, hd, d0) @ wq[:hd]).float()
    t["model.layers.0.self_attn.k_proj.weight"] = wk
    save_file(t, path, metadata={"format": "pt"})
    return d


def test_peaked(tmp):
    d0 = 13
    model = build_peaked(tmp, d0)
    out = os.path.join(tmp, "peaked.h5")
    res = qk("rope-geometry", "--model", model, "--offsets", ",".join(map(str, range(0, 41))), "--out", out,
             "--device", rc.DEVICE)
    check(res.returncode == 0, f"peaked: rope-geometry ({res.stderr.strip()[-300:]})")
    if res.returncode != 0:
        return
    _, wq, _ = qk_weights(model)
    with h5py.File(out, "r") as f:
        tr = f["operator/signed_trace"][0, 0]
        q32 = wq[0][:16]
        best = int(np.argmax(tr))
        check(best == d0, f"peaked: tr B(D) peaks at D = {best} (expected {d0}); tr = {tr[best]:.6g}")
        sq = float(np.sum(q32 * q32))
        # W_K was rounded to f32 after the rotation: tr B(d0) = tr(Q^T Q) + O(2^-24 ||Q||^2).
        check(abs(tr[d0] - sq) <= 1e-6 * sq, f"peaked: tr B(d0) = ||W_Q||_F^2 ({tr[d0]:.9g} vs {sq:.9g})")
        check(all(tr[o] < tr[d0] - 1e-3 * sq for o in range(41) if o != d0), "peaked: strictly largest at d0")


def test_defaults_and_errors(tmp):
    model = os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models", "qwen3")
    out = os.path.join(tmp, "default.h5")
    r = qk("rope-geometry", "--model", model, "--out", out)
    ok = r.returncode == 0
    with open(os.path.join(model, "config.json")) as fh:
        mx = json.load(fh)["max_position_embeddings"]
    if ok:
        with h5py.File(out, "r") as f:
            want = [0] + [2 ** i for i in range(20) if 2 ** i < mx]
            check(list(f["offsets"][:]) == want, f"default offsets {list(f['offsets'][:])} == {want}")
            check(f.attrs["kind"] == "qkgeom-rope-geometry" and f.attrs["rotary_dim"] == 16,
                  "root attributes kind, rotary_dim")
    check(ok and "offset" in r.stdout and "rank_eff" in r.stdout, f"table printed ({r.stderr.strip()[-200:]})")
    j = qk("rope-geometry", "--model", model, "--offsets", "0,5", "--threads", "1", "--json")
    js = json.loads(j.stdout) if j.returncode == 0 else {}
    check(js.get("engine", {}).get("threads") == 1 and [r["offset"] for r in js.get("per_offset", [])] == [0, 5]
          and all("signed_trace" in r for r in js.get("per_offset", [])),
          f"--json with --threads 1: engine threads 1, one row per offset ({j.stderr.strip()[-200:]})")
    b = qk("rope-geometry", "--model", os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models", "bert"))
    check(b.returncode == 3 and "config.json" in b.stderr and "rotary" in b.stderr,
          f"BERT: exit 3 naming config.json ({b.returncode}: {b.stderr.strip()[-200:]})")
    for bad in ("1,x", "1,1", "", "1,,2"):
        e = qk("rope-geometry", "--model", model, "--offsets", bad)
        check(e.returncode == 2 and "--offsets" in e.stderr, f"--offsets '{bad}': exit 2 ({e.stderr.strip()[-150:]})")


def main():
    rc.require_cli()
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        rc.skip("torch and transformers are needed for the reference")
    with tempfile.TemporaryDirectory() as tmp:
        for name in FIXTURES:
            d = os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models", name)
            if os.path.exists(os.path.join(d, "model.safetensors")):
                check_model(name, d, tmp)
        check_model("neox_quarter", build_neox(tmp), tmp, weights=neox_weights)
        test_peaked(tmp)
        test_defaults_and_errors(tmp)
    for k, v in sorted(WORST.items()):
        lim = LIMITS.get(k, TOL)
        check(v <= lim, f"worst {k} error {v:.2e} (<= {lim:.0e}, relative to the largest value of its head)")
    print(f"{len(rc.FAILURES)} failures")
    return 1 if rc.FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
