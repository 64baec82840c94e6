#!/usr/bin/env python3
"""`qkgeom rope-geometry --sweep` (docs/static-geometry.md, "Expected logit of a sweep")
against numpy / scipy recomputing everything from the sweep store's own kv/q, kv/k and
attention/distance_mass:
- inverse frequencies from transformers' rotary embedding of each model (per layer type:
  Gemma 3's sliding layers use the local RoPE), the logit scale from HF's attention module;
- mean pre-RoPE query and key (each saved post-RoPE vector un-rotated by its position),
  E(D) = softcap tanh(scale q^T R(-D) k / softcap) (Gemma 2; the cap from HF's attention
  module), implied masses (mean over query positions of the causal softmax of E, restricted
  to D < window in the layers whose HF attention module has a sliding window: Gemma 2's
  every other layer, every Mistral layer), measured means, Spearman
  (scipy.stats.spearmanr) and total variation: 1e-9 relative; the gemma2 fixture runs with
  its soft-cap lowered to 0.05 (its mean-query logits reach 0.16: the cap bends them) and
  its window 4 (prompts of 4 .. 40 tokens), and dropping the cap or the window from the
  reference must move E or the implied masses far beyond that tolerance;
- the convention, independently of both: a probe of one repeated token has one pre-RoPE
  layer-0 query and key, so E(i - j) must equal scale q_i . k_j of the stored vectors;
- bad input: a sweep without --save-kv qkv, or with k only, or without the attention
  metric, or of another model: exit 3 naming the store; a compare file or STATIC.h5 named
  by its kind; a sweep without an ok probe refused before any layer is computed."""
import json
import os
import random
import subprocess
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402
from refcommon import check  # noqa: E402

TOL = 1e-9
FIXTURES = ["llama3", "gemma3_text", "mistral"]
SOFTCAP = 0.05  # gemma2's attn_logit_softcapping in the test (the fixture's: 2.0)


def run(*args):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=300)


def fixture(name):
    return os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models", name)


def write_probes(path, lines):
    with open(path, "w") as f:
        for i, ids in enumerate(lines):
            f.write(json.dumps({"id": f"p{i}", "ids": ids}) + "\n")


def random_probes(path, seed=11):
    rng = random.Random(seed)
    lines = [[rng.randrange(128) for _ in range(rng.randrange(4, 40))] for _ in range(4)] + [[7] * 12]
    write_probes(path, lines)


def sweep(model, probes, out, *extra):
    return run(rc.QKGEOM_BIN, "sweep", "--model", model, "--probes", probes, "--out", out, "--device", rc.DEVICE,
               "--quiet", *extra)


def hf_model_rope(model_dir):
    """Per layer HF's inv_freq (float64 of its f32), the attention module's logit scale, its
    sliding window (None: none) and logit soft-cap (None: none)."""
    import importlib
    import transformers
    from test_rope_geometry import MODULES, hf_inv_freq, hf_rotary, layer_types
    config, rot, _ = hf_rotary(model_dir)
    pkg = MODULES.get(config.model_type, config.model_type)
    mod = importlib.import_module(f"transformers.models.{pkg}.modeling_{pkg}")
    att = min((n for n in dir(mod) if n.endswith("Attention") and n[0] != "_"), key=len)
    types = layer_types(config)
    inv = [hf_inv_freq(rot, types[l])[0] for l in range(config.num_hidden_layers)]
    mods = [getattr(mod, att)(config, l) for l in range(config.num_hidden_layers)]
    scale = [float(m.scaling) for m in mods]
    # Gemma 2 and Qwen 2 keep the window on the module; Mistral's mask uses the config's on every layer.
    window = [m.sliding_window if hasattr(m, "sliding_window") else getattr(config, "sliding_window", None)
              for m in mods]
    cap = [getattr(m, "attn_logit_softcapping", None) for m in mods]
    assert isinstance(config, transformers.PretrainedConfig)
    return inv, scale, window, cap


def unrotate(x, pos, inv):
    """R(-pos) x for x [T, H, d] (rotate-half layout), pos [T]."""
    P = len(inv)
    t = pos[:, None].astype(np.float64) * inv[None, :]
    c, s = np.cos(t)[:, None, :], np.sin(t)[:, None, :]
    y = x.astype(np.float64).copy()
    a, b = y[..., :P].copy(), y[..., P:2 * P].copy()
    y[..., :P] = c * a + s * b
    y[..., P:2 * P] = -s * a + c * b
    return y


def rotate_minus(k, D, inv):
    return unrotate(k[None, None, :], np.array([D]), inv)[0, 0]


def bucket(D):
    return 0 if D == 0 else min(15, int(np.floor(np.log2(D))) + 1)


def reference(store, inv, scale, window, cap):
    """Every sweep/ dataset recomputed from the store (window[l], cap[l]: None for none)."""
    from scipy import stats
    with h5py.File(store, "r") as f:
        n = len(f["probe/index"])
        ok = np.array(rc.h5_strings(f["probe/status"], n)) == "ok"
        off, cnt = f["kv/offset"][:n][ok], f["kv/count"][:n][ok]
        rows = np.concatenate([np.arange(o, o + c) for o, c in zip(off, cnt)])
        pos = np.concatenate([np.arange(c) for c in cnt])
        q, k = f["kv/q"][:][rows], f["kv/k"][:][rows]
        measured = f["attention/distance_mass"][:n][ok].mean(axis=0)
    L, Hq, G = q.shape[1], q.shape[2], k.shape[2]
    mq = np.stack([unrotate(q[:, l], pos, inv[l]).mean(axis=0) for l in range(L)])
    mk = np.stack([unrotate(k[:, l], pos, inv[l]).mean(axis=0) for l in range(L)])
    max_len, qlen = int(cnt.max()), int(np.round(cnt.mean()))
    E = np.zeros((L, Hq, max_len))
    implied = np.zeros((L, Hq, 16))
    rho, tv = np.full((L, Hq), np.nan), np.zeros((L, Hq))
    for l in range(L):
        for h in range(Hq):
            g = h // (Hq // G)
            E[l, h] = [scale[l] * mq[l, h] @ rotate_minus(mk[l, g], D, inv[l]) for D in range(max_len)]
            if cap[l]:
                E[l, h] = cap[l] * np.tanh(E[l, h] / cap[l])
            for i in range(qlen):
                last = min(i, window[l] - 1) if window[l] else i
                w = np.exp(E[l, h, :last + 1] - E[l, h, :last + 1].max())
                for D in range(last + 1):
                    implied[l, h, bucket(D)] += w[D] / w.sum() / qlen
            keep = (implied[l, h] > 0) | (measured[l, h] > 0)
            rho[l, h] = stats.spearmanr(implied[l, h][keep], measured[l, h][keep]).statistic
            tv[l, h] = 0.5 * np.abs(implied[l, h] - measured[l, h]).sum()
    return {"mean_query": mq, "mean_key": mk, "expected_logit": E, "implied_mass": implied,
            "measured_mass": measured, "spearman": rho, "total_variation": tv}, max_len, qlen


def capped_gemma2(tmp):
    """The gemma2 fixture with attn_logit_softcapping = SOFTCAP (weights linked, config rewritten)."""
    src, dst = fixture("gemma2"), os.path.join(tmp, "gemma2_cap")
    os.makedirs(dst)
    for f in os.listdir(src):
        if f != "config.json":
            os.symlink(os.path.join(src, f), os.path.join(dst, f))
    with open(os.path.join(src, "config.json")) as fh:
        config = json.load(fh)
    config["attn_logit_softcapping"] = SOFTCAP
    with open(os.path.join(dst, "config.json"), "w") as fh:
        json.dump(config, fh)
    return dst


def check_model(name, tmp, model=None):
    model = model or fixture(name)
    probes, store, out = (os.path.join(tmp, f"{name}.{e}") for e in ("jsonl", "sweep.h5", "rope.h5"))
    random_probes(probes)
    r = sweep(model, probes, store, "--save-kv", "qkv", "--metrics", "attention")
    check(r.returncode == 0, f"{name}: sweep --save-kv qkv ({r.stderr.strip()[-200:]})")
    g = run(rc.QKGEOM_BIN, "rope-geometry", "--model", model, "--sweep", store, "--offsets", "0,1", "--out", out,
            "--json")
    check(g.returncode == 0, f"{name}: rope-geometry --sweep ({g.stderr.strip()[-300:]})")
    if r.returncode or g.returncode:
        return
    inv, scale, window, cap = hf_model_rope(model)
    ref, max_len, qlen = reference(store, inv, scale, window, cap)
    js = json.loads(g.stdout)["sweep"]
    with h5py.File(out, "r") as f:
        s = f["sweep"]
        check(s.attrs["max_length"] == max_len and s.attrs["query_length"] == qlen and s.attrs["probes"] == 5,
              f"{name}: max_length {max_len}, query_length {qlen}, 5 probes")
        for key, want in ref.items():
            got = s[key][:]
            same_nan = got.shape == want.shape and np.array_equal(np.isnan(got), np.isnan(want))
            err = np.nanmax(np.abs(got - want)) / max(np.nanmax(np.abs(want)), 1e-300) if same_nan else np.inf
            check(err <= TOL, f"{name}: sweep/{key} {want.shape} equals numpy's (relative error {err:.1e})")
        for key in ("implied_mass", "measured_mass", "spearman", "total_variation"):
            flat = np.array([np.nan if v is None else v for v in js[key]])
            check(np.array_equal(flat, s[key][:].ravel(), equal_nan=True), f"{name}: --json {key} equals ROPE.h5's")
        check(np.allclose(s["implied_mass"][:].sum(axis=-1), 1, atol=1e-12), f"{name}: implied masses sum to 1")
        check(list(s["window"][:]) == [w or 0 for w in window] and list(s["softcap"][:]) == [c or 0.0 for c in cap],
              f"{name}: sweep/window {list(s['window'][:])}, sweep/softcap {list(s['softcap'][:])} are HF's")
        if name == "gemma2_cap":
            check(cap == [SOFTCAP] * len(cap), f"gemma2: HF's soft-cap is {cap}")
            check_cap_and_window_matter(s, store, inv, scale, window, cap)
    check("spearman" in run(rc.QKGEOM_BIN, "rope-geometry", "--model", model, "--sweep", store,
                            "--offsets", "0").stdout, f"{name}: table line per layer")


def check_cap_and_window_matter(s, store, inv, scale, window, cap):
    """The reference without the soft-cap, or without the window, is far from ROPE.h5."""
    assert any(window) and any(cap)
    for what, w, c in (("soft-cap", window, [None] * len(cap)), ("window", [None] * len(window), cap)):
        alt, _, _ = reference(store, inv, scale, w, c)
        key = "expected_logit" if what == "soft-cap" else "implied_mass"
        got = s[key][:]
        err = np.max(np.abs(got - alt[key])) / np.max(np.abs(alt[key]))
        check(err > 1e3 * TOL, f"gemma2_cap: without the {what} the reference's {key} differs ({err:.1e} relative)")
    mass = s["implied_mass"][:]
    far = [l for l in range(len(window)) if window[l]]
    check(np.all(mass[far][..., bucket(window[far[0]] - 1) + 1:] == 0),
          f"gemma2_cap: sliding layers {far} give no implied mass at D >= {window[far[0]]}")


def check_convention(tmp):
    """One repeated token: E(i - j) of layer 0 is scale q_i . k_j of the stored vectors."""
    model = fixture("llama3")
    probes, store, out = (os.path.join(tmp, f"rep.{e}") for e in ("jsonl", "sweep.h5", "rope.h5"))
    write_probes(probes, [[9] * 20])
    r = sweep(model, probes, store, "--save-kv", "qkv", "--metrics", "attention")
    g = run(rc.QKGEOM_BIN, "rope-geometry", "--model", model, "--sweep", store, "--offsets", "0", "--out", out)
    if r.returncode or g.returncode:
        check(False, f"repeated token sweep and rope-geometry ({r.stderr[-200:]} {g.stderr[-200:]})")
        return
    _, scale, _, _ = hf_model_rope(model)
    with h5py.File(store, "r") as f, h5py.File(out, "r") as o:
        q, k = f["kv/q"][:, 0].astype(np.float64), f["kv/k"][:, 0].astype(np.float64)
        E = o["sweep/expected_logit"][0]
    G = k.shape[1]
    worst = 0.0
    for h in range(q.shape[1]):
        for i, j in ((19, 0), (19, 19), (10, 3), (5, 4)):
            want = scale[0] * q[i, h] @ k[j, h // (q.shape[1] // G)]
            worst = max(worst, abs(E[h, i - j] - want) / max(abs(want), np.abs(E[h]).max()))
    check(worst < 1e-5, f"layer 0, one token: E(i - j) == scale q_i . k_j (relative error {worst:.1e}, f32 inputs)")


def check_errors(tmp):
    model = fixture("llama3")
    probes = os.path.join(tmp, "e.jsonl")
    write_probes(probes, [[1, 2, 3, 4], [5, 6, 7]])
    cases = [("nokv", ("--metrics", "attention"), "--save-kv qkv"),
             ("konly", ("--metrics", "attention", "--save-kv", "k"), "kv/q"),
             ("nometric", ("--save-kv", "qkv", "--metrics", "bo"), "attention/distance_mass")]
    for tag, extra, word in cases:
        store = os.path.join(tmp, f"{tag}.h5")
        s = sweep(model, probes, store, *extra)
        e = run(rc.QKGEOM_BIN, "rope-geometry", "--model", model, "--sweep", store)
        check(s.returncode == 0 and e.returncode == 3 and store in e.stderr and word in e.stderr,
              f"sweep {' '.join(extra)}: exit 3 naming the store and {word} ({e.returncode}: {e.stderr.strip()[-160:]})")
    other = run(rc.QKGEOM_BIN, "rope-geometry", "--model", fixture("qwen3"), "--sweep",
                os.path.join(tmp, "llama3.sweep.h5"))
    check(other.returncode == 3 and "another model" in other.stderr and "llama3.sweep.h5" in other.stderr,
          f"sweep of llama3 with --model qwen3: exit 3 ({other.returncode}: {other.stderr.strip()[-160:]})")
    check_not_a_sweep(tmp, model)
    check_no_ok_probe(tmp, model)


def check_not_a_sweep(tmp, model):
    """Another qkgeom file is named by its root `kind`, without the --save-kv hint."""
    for kind, word in (("qkgeom-compare", "a compare file"), ("qkgeom-static", "a static file")):
        path = os.path.join(tmp, f"{kind}.h5")
        with h5py.File(path, "w") as f:
            f.attrs["kind"] = kind
            f["runs"] = np.arange(3)
        e = run(rc.QKGEOM_BIN, "rope-geometry", "--model", model, "--sweep", path)
        check(e.returncode == 3 and f"{word} (kind {kind}), not a sweep store" in e.stderr
              and "--save-kv" not in e.stderr,
              f"{kind} as --sweep: exit 3 naming the kind ({e.returncode}: {e.stderr.strip()[-160:]})")


def check_no_ok_probe(tmp, model):
    """A sweep without an ok probe is refused before any layer is computed (no progress line)."""
    path = os.path.join(tmp, "no_ok.h5")
    with h5py.File(os.path.join(tmp, "llama3.sweep.h5")) as src, h5py.File(path, "w") as dst:
        for name in src:
            src.copy(name, dst)
        dst.attrs.update(src.attrs)
        rc.h5_rewrite_strings(dst, "probe/status", ["error"] * len(dst["probe/status"]))
    e = run(rc.QKGEOM_BIN, "rope-geometry", "--model", model, "--sweep", path)
    check(e.returncode == 3 and "no probe with probe/status ok" in e.stderr and "layer 1/" not in e.stderr,
          f"sweep without an ok probe: exit 3 before any layer ({e.returncode}: {e.stderr.strip()[-160:]})")


def main():
    rc.require_cli()
    try:
        import scipy  # noqa: F401
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        rc.skip("torch, transformers and scipy are needed for the reference")
    with tempfile.TemporaryDirectory() as tmp:
        for name in FIXTURES:
            if os.path.exists(os.path.join(fixture(name), "model.safetensors")):
                check_model(name, tmp)
        if os.path.exists(os.path.join(fixture("gemma2"), "model.safetensors")):
            check_model("gemma2_cap", tmp, capped_gemma2(tmp))
        check_convention(tmp)
        check_errors(tmp)
    print(f"{len(rc.FAILURES)} failures")
    return 1 if rc.FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
