#!/usr/bin/env python3
"""Bone-Orientation metric set (qkgeom default mode), the straightforward numpy way.

What a researcher would write with vectorised numpy: per (layer, head) normalise the
rows, form the full S x S Gram with one matmul, reduce its upper triangle; per layer
form the H x H Gram of flattened heads; no hand-written kernels, no tiling. Heads are
processed one at a time so that the S x S Gram (512 MiB at S = 8192 in float64) is the
only large temporary.

dtype float64 follows the seed's arithmetic (lem-attention.go casts every element to
float64 before its dot products); float32 keeps everything in float32.

Input: k (and optional v) [layers, kv_heads, seq, head_dim]. Output: a dict with the
field names of `qkgeom score --json`.

Usage: bo_numpy.py SNAPSHOT.safetensors [--dtype f64|f32]   (prints JSON)
"""
import argparse
import json
import math
import sys

import numpy as np

LOCK_THRESHOLD = 0.7      # phase-lock cosine threshold (seed: coherenceThreshold)
COLLAPSE_THRESHOLD = 0.5  # joint-collapse threshold on cross-alignment
POSITION_MODE_MAX_HEADS = 4  # the seed's switch to position-wise analysis


def unit_rows(x):
    """Rows of x [n, d] scaled to unit L2 norm; zero rows stay zero."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def position_pairs(x, below_threshold):
    """One head x [S, d]: (sum of cos over pairs i<j, count of pairs with cos < threshold)."""
    u = unit_rows(x)
    g = u @ u.T  # [S, S] symmetric (numpy uses syrk for A @ A.T)
    diag = np.diagonal(g)
    sum_cos = (g.sum() - diag.sum()) / 2
    below = (np.count_nonzero(g < below_threshold) - np.count_nonzero(diag < below_threshold)) // 2
    return float(sum_cos), int(below)


def magnitude_entropy(x):
    """Normalised Shannon entropy of the row norms of x [S, d], in [0, 1]."""
    m = np.linalg.norm(x, axis=1)
    total = m.sum()
    s = x.shape[0]
    if total <= 0 or s < 2:
        return 0.0
    p = m[m > 0] / total
    return float(-(p * np.log(p)).sum() / math.log(s))


def position_coherence(cloud, dtype, lock_threshold):
    """Position mode on every head of cloud [L, H, S, d].
    Returns (layer differentiation [L], per-head differentiation [L, H], phase-lock fraction)."""
    L, H, S, _ = cloud.shape
    pairs = S * (S - 1) / 2
    head_diff = np.zeros((L, H))
    below_total = 0
    below_threshold = 1.0 - lock_threshold
    for l in range(L):
        for h in range(H):
            sum_cos, below = position_pairs(cloud[l, h].astype(dtype), below_threshold)
            head_diff[l, h] = 1.0 - sum_cos / pairs
            below_total += below
    return head_diff.mean(axis=1), head_diff, below_total / (pairs * L * H)


def multi_head_coherence(cloud, dtype, lock_threshold):
    """Multi-head mode on cloud [L, H, S, d]: mean pairwise cosine of flattened heads per layer.
    Returns (layer coherence [L], phase-lock fraction)."""
    L, H = cloud.shape[:2]
    iu = np.triu_indices(H, 1)
    layer = np.zeros(L)
    locked = 0
    for l in range(L):
        flat = cloud[l].reshape(H, -1).astype(dtype)
        g = flat @ flat.T
        n = np.sqrt(np.diagonal(g))
        denom = np.outer(n, n)
        cos = np.divide(g, denom, out=np.zeros_like(g), where=denom > 0)[iu]
        layer[l] = cos.mean()
        locked += np.count_nonzero(cos >= lock_threshold)
    return layer, locked / (L * len(iu[0]))


def layer_alignment(cloud, dtype):
    """Cosine between adjacent layers' head-mean vectors of cloud [L, H, S, d]; [L-1]."""
    L = cloud.shape[0]
    means = [cloud[l].astype(dtype).mean(axis=0).ravel() for l in range(L)]
    out = np.zeros(max(0, L - 1))
    for l in range(L - 1):
        a, b = means[l], means[l + 1]
        denom = np.linalg.norm(a) * np.linalg.norm(b)
        out[l] = a @ b / denom if denom > 0 else 0.0
    return out


def linear_cka(k, v):
    """Linear CKA of k, v [S, d] with rows centred over positions, in [0, 1]."""
    kc = k - k.mean(axis=0)
    vc = v - v.mean(axis=0)
    denom = np.linalg.norm(kc.T @ kc) * np.linalg.norm(vc.T @ vc)
    return float(np.linalg.norm(kc.T @ vc) ** 2 / denom) if denom > 0 else 0.0


def composite(r):
    """The seed's composite score in 0..10000 units, before rounding."""
    if r["gqa"]:
        scaled_diff = min(1.0, max(0.0, (r["mean_coherence"] - 0.1) / 0.6))
        lc = np.asarray(r["layer_coherence"])
        layer_var = float(np.sqrt(np.mean((lc - r["mean_coherence"]) ** 2))) if len(lc) > 1 else 0.0
        scaled_var = min(1.0, layer_var / 0.2)
        joint = max(0.0, 1.0 - r["joint_collapse_count"] * 0.2)
        return (0.45 * scaled_diff + 0.25 * scaled_var + 0.15 * r["mean_head_entropy"]
                + 0.15 * joint) * 10000.0
    return (0.30 * r["mean_coherence"] + 0.25 * r["mean_cross_alignment"]
            + 0.20 * r["phase_lock_score"] + 0.15 * r["mean_head_entropy"]
            + 0.10 * max(0.0, 1.0 - r["joint_collapse_count"] * 0.2)) * 10000.0


def analyse(k, v=None, dtype=np.float64, lock_threshold=LOCK_THRESHOLD,
            collapse_threshold=COLLAPSE_THRESHOLD):
    """Default-mode Bone-Orientation metrics of k (and v) [layers, kv_heads, seq, head_dim]."""
    L, H, S, _ = k.shape
    gqa = H <= POSITION_MODE_MAX_HEADS
    r = {"gqa": gqa, "layers": L, "kv_heads": H, "seq_len": S, "head_dim": k.shape[3]}
    entropy = np.array([[magnitude_entropy(k[l, h].astype(dtype)) for h in range(H)]
                        for l in range(L)])
    if gqa:
        layer_coh, head_diff, lock = position_coherence(k, dtype, lock_threshold)
        cross = 1.0 - np.abs(np.diff(layer_coh))
        r["head_differentiation"] = head_diff.tolist()
    else:
        layer_coh, lock = multi_head_coherence(k, dtype, lock_threshold)
        cross = layer_alignment(k, dtype)
    r["layer_coherence"] = layer_coh.tolist()
    r["layer_cross_alignment"] = cross.tolist()
    r["mean_coherence"] = float(layer_coh.mean())
    r["mean_cross_alignment"] = float(cross.mean()) if len(cross) else 0.0
    r["mean_head_entropy"] = float(entropy.mean())
    r["head_entropy"] = entropy.tolist()
    r["phase_lock_score"] = float(lock)
    r["joint_collapse_count"] = int(np.count_nonzero(cross < collapse_threshold))
    r["composite_exact"] = composite(r)
    r["composite"] = int(round(min(10000.0, max(0.0, r["composite_exact"]))))
    if v is not None:
        if gqa:
            v_layer, _, v_lock = position_coherence(v, dtype, lock_threshold)
        else:
            v_layer, v_lock = multi_head_coherence(v, dtype, lock_threshold)
        cka = np.array([[linear_cka(k[l, h].astype(dtype), v[l, h].astype(dtype))
                         for h in range(H)] for l in range(L)])
        r["layer_value_coherence"] = v_layer.tolist()
        r["mean_value_coherence"] = float(v_layer.mean())
        r["value_phase_lock_score"] = float(v_lock)
        r["layer_kv_coupling"] = cka.mean(axis=1).tolist()
        r["mean_kv_coupling"] = float(cka.mean())
    return r


def load_snapshot(path):
    """k and optional v of a safetensors snapshot as float32 arrays."""
    from safetensors.numpy import load_file
    t = load_file(path)
    v = t.get("v")
    k = t["k"].astype(np.float32, copy=False)
    return k, None if v is None else v.astype(np.float32, copy=False)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("snapshot",
                    help="safetensors file with k [layers, kv_heads, seq, head_dim], optional v")
    ap.add_argument("--dtype", choices=["f64", "f32"], default="f64")
    ap.add_argument("--no-v", action="store_true", help="ignore v even when present")
    a = ap.parse_args(argv)
    k, v = load_snapshot(a.snapshot)
    r = analyse(k, None if a.no_v else v, np.float64 if a.dtype == "f64" else np.float32)
    json.dump(r, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
