#!/usr/bin/env python3
"""Independent numpy reference of the Q/K Bone-Orientation metrics.

Written from the formulas of shared/seeds/lem-attention.go and the project's
fixes (docs/metrics.md); it shares no code with the engine.

  bo_reference.py SNAPSHOT [--lem-compat]      prints the metrics as JSON

Modes:
  compat  (--lem-compat) the seed exactly: with <= 4 KV heads position-wise on
          head 0 only, the f32 head mean for cross alignment, composite truncated.
  default position-wise on every KV head when <= 4, fp64 head means, composite
          rounded half away from zero.
Sums that decide the seed's numbers are taken left to right in fp64 (np.cumsum),
products of f32 inputs are exact in fp64, so compat results follow the Go code's
arithmetic operation by operation (log2 aside).
"""
import argparse
import json
import math
import sys

import numpy as np

LOCK = 0.7          # seed: coherenceThreshold, compared with >=
LOCK_LOW = 0.3      # seed: 1.0 - coherenceThreshold, a Go constant expression (exact 0.3)
COLLAPSE = 0.5      # seed: collapseThreshold, compared with <
EXACT_PRODUCTS = 1 << 24  # above this many products a cosine batch uses BLAS

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def load_snapshot(path):
    """Returns {'k': f32 [L,H,S,D], optional 'v', 'q'} from safetensors or HDF5.

    HDF5 bf16 convention: a uint16 dataset with attribute dtype="bf16".
    """
    with open(path, "rb") as f:
        magic = f.read(8)
    out = {}
    if magic == HDF5_SIGNATURE:
        import h5py
        with h5py.File(path, "r") as h5:
            for name in ("k", "v", "q"):
                if name not in h5:
                    continue
                ds = h5[name]
                tag = ds.attrs.get("dtype", b"")
                tag = tag.decode() if isinstance(tag, bytes) else str(tag)
                arr = ds[()]
                if tag.lower() == "bf16":
                    arr = (arr.astype(np.uint32) << 16).view(np.float32)
                out[name] = np.ascontiguousarray(arr, dtype=np.float32)
    else:
        import ml_dtypes  # noqa: F401  registers bfloat16 with numpy for safetensors
        from safetensors.numpy import load_file
        for name, arr in load_file(path).items():
            if name in ("k", "v", "q"):
                out[name] = np.ascontiguousarray(arr.astype(np.float32))
    return out


def seq_sum(x, axis=-1):
    """Left-to-right fp64 sum along axis (the seed's loop order); 0 when empty."""
    x = np.asarray(x, dtype=np.float64)
    if x.shape[axis] == 0:
        return np.sum(x, axis=axis)
    return np.take(np.cumsum(x, axis=axis), -1, axis=axis)


def _cosines_one(a, b):
    """a [m,n], b [p,n] -> [m,p] cosines, the seed's cosineSim32 arithmetic."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape[0] * b.shape[0] * a.shape[1] <= EXACT_PRODUCTS:
        dot = seq_sum(a[:, None, :] * b[None, :, :])
    else:
        dot = a @ b.T
    na = seq_sum(a * a)
    nb = seq_sum(b * b)
    denom = np.sqrt(na)[:, None] * np.sqrt(nb)[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = np.where(denom == 0.0, 0.0, dot / np.where(denom == 0.0, 1.0, denom))
    if a.shape[1] == 0:
        cos[:] = 0.0
    return cos


def cosines(a, b):
    """a [..., m, n], b [..., p, n] -> [..., m, p]."""
    lead = a.shape[:-2]
    a2 = a.reshape((-1,) + a.shape[-2:])
    b2 = b.reshape((-1,) + b.shape[-2:])
    out = np.empty((a2.shape[0], a2.shape[1], b2.shape[1]))
    for i in range(a2.shape[0]):
        out[i] = _cosines_one(a2[i], b2[i])
    return out.reshape(lead + out.shape[1:])


def pair_values(cos):
    """Upper-triangle entries of [..., n, n] in the seed's (i, j>i) order."""
    n = cos.shape[-1]
    iu, ju = np.triu_indices(n, 1)
    return cos[..., iu, ju]


def head_entropy(x):
    """Seed headEntropy: x [..., S, D] -> [...] normalised Shannon entropy (log2)
    of the per-position magnitudes."""
    x = np.asarray(x, dtype=np.float64)
    s = x.shape[-2]
    mags = np.sqrt(seq_sum(x * x))
    total = seq_sum(mags)
    if s < 2:
        return np.zeros(total.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = mags / np.where(total == 0.0, 1.0, total)[..., None]
        terms = np.where(p > 0.0, p * np.log2(np.where(p > 0.0, p, 1.0)), 0.0)
    ent = -seq_sum(terms) / np.log2(float(s))
    return np.where(total == 0.0, 0.0, ent)


def _position_analysis(x, heads):
    """Position-wise ('GQA') analysis on the first `heads` heads of every layer."""
    L, H, S, D = x.shape
    r = dict(gqa=True, analysed_heads=heads)
    if S < 2 or D == 0:
        r.update(layer_coherence=np.zeros(L), layer_cross_alignment=np.zeros(max(0, L - 1)),
                 mean_coherence=0.0, mean_cross_alignment=0.0, mean_head_entropy=0.0,
                 phase_lock_score=0.0, joint_collapse_count=0,
                 head_differentiation=np.zeros((L, heads)), head_entropy=np.zeros((L, heads)))
        return r
    p = x[:, :heads]
    pc = pair_values(cosines(p, p))                 # [L, heads, S(S-1)/2]
    pairs = pc.shape[-1]
    diff = 1.0 - seq_sum(pc) / pairs                # [L, heads]
    locked = int(np.count_nonzero(pc < LOCK_LOW))
    total_pairs = pc.size
    layer = diff[:, 0] if heads == 1 else seq_sum(diff) / heads
    cross = 1.0 - np.abs(layer[1:] - layer[:-1])
    ent = head_entropy(p)                           # [L, heads]
    r.update(layer_coherence=layer, layer_cross_alignment=cross,
             mean_coherence=float(seq_sum(layer)) / L,
             mean_cross_alignment=float(seq_sum(cross)) / len(cross) if len(cross) else 0.0,
             mean_head_entropy=float(seq_sum(ent.ravel())) / ent.size,
             phase_lock_score=locked / total_pairs if total_pairs else 0.0,
             joint_collapse_count=int(np.count_nonzero(cross < COLLAPSE)),
             head_differentiation=diff, head_entropy=ent)
    return r


def _multihead_analysis(x, f32_mean):
    """Pairwise head coherence (the seed's multi-head algorithm)."""
    L, H, S, D = x.shape
    flat = x.reshape(L, H, S * D)
    pc = pair_values(cosines(flat, flat))           # [L, H(H-1)/2]
    pairs = pc.shape[-1]
    layer = seq_sum(pc) / pairs if pairs else np.zeros(L)
    locked = int(np.count_nonzero(pc >= LOCK))
    if f32_mean:
        means = np.cumsum(flat, axis=1, dtype=np.float32)[:, -1] / np.float32(H)
    else:
        means = seq_sum(flat.astype(np.float64), axis=1) / H
    cross = np.array([_cosines_one(means[i:i + 1], means[i + 1:i + 2])[0, 0]
                      for i in range(L - 1)])
    ent = head_entropy(x)                           # [L, H]
    return dict(gqa=False, analysed_heads=H, layer_coherence=layer,
                layer_cross_alignment=cross,
                mean_coherence=float(seq_sum(layer)) / L,
                mean_cross_alignment=float(seq_sum(cross)) / (L - 1) if L > 1 else 0.0,
                mean_head_entropy=float(seq_sum(ent.ravel())) / (L * H),
                phase_lock_score=locked / pc.size if pc.size else 0.0,
                joint_collapse_count=int(np.count_nonzero(cross < COLLAPSE)),
                head_differentiation=None, head_entropy=ent)


def analyse_cloud(x, compat):
    """Coherence analysis of one [L,H,S,D] cloud (K or V)."""
    x = np.asarray(x, dtype=np.float32)
    if x.shape[1] <= 4:
        return _position_analysis(x, 1 if compat else x.shape[1])
    return _multihead_analysis(x, f32_mean=compat)


def composite_score(r):
    """The seed's Composite() before the integer conversion."""
    joint = max(0.0, 1.0 - float(r["joint_collapse_count"]) * 0.2)
    if not r["gqa"]:
        return (0.30 * r["mean_coherence"] + 0.25 * r["mean_cross_alignment"]
                + 0.20 * r["phase_lock_score"] + 0.15 * r["mean_head_entropy"]
                + 0.10 * joint) * 10000.0
    scaled_diff = (r["mean_coherence"] - 0.1) / 0.6
    scaled_diff = min(1.0, max(0.0, scaled_diff))
    layer_var = 0.0
    lc = list(r["layer_coherence"])
    if len(lc) > 1:
        sum_sq = 0.0
        for v in lc:
            d = v - r["mean_coherence"]
            sum_sq += d * d
        layer_var = math.sqrt(sum_sq / float(len(lc)))
    scaled_var = min(1.0, layer_var / 0.2)
    return (0.45 * scaled_diff + 0.25 * scaled_var + 0.15 * r["mean_head_entropy"]
            + 0.15 * joint) * 10000.0


def composite_int(score, compat):
    if compat:
        return min(10000, max(0, int(score)))
    c = min(10000.0, max(0.0, score))
    f = math.floor(c)
    return int(f + 1 if c - f >= 0.5 else f)


def features(r):
    return [r["mean_coherence"], r["mean_cross_alignment"], r["mean_head_entropy"],
            r["phase_lock_score"], max(0.0, 1.0 - float(r["joint_collapse_count"]) * 0.2)]


def linear_cka(k, v):
    """Linear CKA between K and V position clouds: [L,H,S,D] x2 -> [L,H]."""
    kc = k.astype(np.float64)
    vc = v.astype(np.float64)
    kc = kc - kc.mean(axis=-2, keepdims=True)
    vc = vc - vc.mean(axis=-2, keepdims=True)
    kv = np.einsum("lhsd,lhse->lhde", kc, vc)
    kk = np.einsum("lhsd,lhse->lhde", kc, kc)
    vv = np.einsum("lhsd,lhse->lhde", vc, vc)
    num = np.sum(kv * kv, axis=(-2, -1))
    den = np.sqrt(np.sum(kk * kk, axis=(-2, -1))) * np.sqrt(np.sum(vv * vv, axis=(-2, -1)))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den == 0.0, 0.0, num / np.where(den == 0.0, 1.0, den))


def _plain(x):
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    return x


def analyse(snap, compat):
    """All metrics of a snapshot dict (load_snapshot) as a JSON-ready dict."""
    k = snap["k"]
    r = analyse_cloud(k, compat)
    score = composite_score(r)
    out = {name: _plain(r[name]) for name in (
        "mean_coherence", "mean_cross_alignment", "mean_head_entropy", "phase_lock_score",
        "joint_collapse_count", "layer_coherence", "layer_cross_alignment", "gqa",
        "analysed_heads", "head_differentiation", "head_entropy")}
    out.update(
        composite=composite_int(score, compat), composite_exact=score, features=features(r),
        mode="lem-compat" if compat else "default",
        layers=k.shape[0], kv_heads=k.shape[1], seq_len=k.shape[2], head_dim=k.shape[3],
        q_heads=snap["q"].shape[1] if "q" in snap else 0)
    if "v" in snap:
        rv = analyse_cloud(snap["v"], compat)
        cka = linear_cka(k, snap["v"])
        layer_cka = cka.mean(axis=1)
        out.update(mean_value_coherence=rv["mean_coherence"],
                   layer_value_coherence=_plain(rv["layer_coherence"]),
                   value_phase_lock_score=rv["phase_lock_score"],
                   mean_kv_coupling=float(cka.mean()),
                   layer_kv_coupling=layer_cka.tolist(),
                   kv_coupling=cka.tolist())
        out["features7"] = out["features"] + [rv["mean_coherence"], float(cka.mean())]
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("snapshot")
    ap.add_argument("--lem-compat", action="store_true", help="reproduce the seed exactly")
    args = ap.parse_args(argv)
    json.dump(analyse(load_snapshot(args.snapshot), args.lem_compat), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
