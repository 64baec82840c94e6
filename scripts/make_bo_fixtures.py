#!/usr/bin/env python3
"""Writes the Bone-Orientation fixture snapshots (fixed seeds) and a manifest.

  make_bo_fixtures.py OUT_DIR

Formats: safetensors (tensors k, v, q; written with the safetensors package) and
HDF5 (datasets /k, /v, /q; float32 and float16 natively, bf16 as a uint16 dataset
with attribute dtype="bf16"). Shapes: k, v [layers, kv_heads, seq, head_dim],
q [layers, q_heads, seq, head_dim]. OUT_DIR/manifest.json lists every fixture.

ensure_fixtures(ROOT) generates once into ROOT/<hash of this file>, safely when
several processes ask at the same time.
"""
import hashlib
import json
import os
import shutil
import sys
import tempfile

import numpy as np

DTYPES = ("f32", "f16", "bf16")


def _bf16():
    import ml_dtypes
    return ml_dtypes.bfloat16


def cast(x, dtype):
    x = np.asarray(x, dtype=np.float32)
    if dtype == "f32":
        return x
    if dtype == "f16":
        return x.astype(np.float16)
    return x.astype(_bf16())


def write_safetensors(path, tensors, dtype, metadata=None):
    from safetensors.numpy import save_file
    save_file({n: np.ascontiguousarray(cast(a, dtype)) for n, a in tensors.items()},
              path, metadata=metadata)


def write_hdf5(path, tensors, dtype, compress=False):
    import h5py
    with h5py.File(path, "w") as h5:
        for name, a in tensors.items():
            data = cast(a, dtype)
            if dtype == "bf16":
                data = data.view(np.uint16)
            kw = dict(chunks=True, compression="gzip", shuffle=True) if compress else {}
            ds = h5.create_dataset(name, data=data, **kw)
            if dtype == "bf16":
                ds.attrs["dtype"] = "bf16"


def gaussian(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def heads_around_common(rng, L, H, S, D, rhos, scale_range=(0.5, 3.0)):
    """Multi-head K: head h of layer l = a_h * C_l + noise; adjacent C_l correlated
    by rhos[l], so head cosines spread around 0.7 and some layers collapse."""
    n = S * D
    c = [rng.standard_normal(n)]
    for rho in rhos:
        c.append(rho * c[-1] + np.sqrt(1 - rho * rho) * rng.standard_normal(n))
    k = np.empty((L, H, n))
    for l in range(L):
        a = rng.uniform(*scale_range, size=H)
        k[l] = a[:, None] * c[l][None, :] + rng.standard_normal((H, n))
    return k.reshape(L, H, S, D).astype(np.float32)


def positions_low_rank(rng, L, H, S, D, shared, rank=4, noise=0.3):
    """Position-mode K: position s = w * m_lh + low-rank(rank) + noise, with the
    shared-direction weight w = shared[l][h] setting the mean position cosine."""
    k = np.empty((L, H, S, D))
    for l in range(L):
        for h in range(H):
            m = rng.standard_normal(D)
            basis = rng.standard_normal((rank, D)) / np.sqrt(rank)
            coef = rng.standard_normal((S, rank))
            k[l, h] = shared[l][h] * m[None, :] + coef @ basis + noise * rng.standard_normal((S, D))
    return k.astype(np.float32)


def sign_cloud(rng, L, H, S, D):
    """Entries +-1: every position has norm sqrt(D), so entropies are exactly 1."""
    return np.where(rng.random((L, H, S, D)) < 0.5, -1.0, 1.0).astype(np.float32)


def q_for(rng, k, group):
    L, H, S, D = k.shape
    return gaussian(rng, L, H * group, S, D)


def fixtures():
    """Yields (name, format, dtype, tensors, note, options)."""
    rng = np.random.default_rng(20240229)

    # Multi-head path (> 4 KV heads).
    k = gaussian(rng, 3, 5, 7, 8)
    yield "mh5_f32_st", "st", "f32", dict(k=k, v=gaussian(rng, 3, 5, 7, 8)), "random, 5 heads", {}
    k = heads_around_common(rng, 4, 8, 9, 16, rhos=[0.9, 0.3, 0.6])
    yield ("mh8_f16_st", "st", "f16", dict(k=k, q=q_for(rng, k, 2)),
           "structured heads, q 16 heads", {})
    k = heads_around_common(rng, 2, 12, 5, 8, rhos=[0.5])
    yield ("mh12_bf16_st", "st", "bf16", dict(k=k, v=k[:, :, ::-1] * 0.5 + gaussian(rng, 2, 12, 5, 8),
                                               q=q_for(rng, k, 1)), "12 heads, v and q", {})
    k = heads_around_common(rng, 3, 8, 6, 4, rhos=[0.8, 0.45])
    yield "mh8_f32_h5", "h5", "f32", dict(k=k, v=gaussian(rng, 3, 8, 6, 4)), "HDF5 f32", {}
    k = heads_around_common(rng, 2, 6, 4, 8, rhos=[0.7])
    yield "mh6_bf16_h5", "h5", "bf16", dict(k=k, v=2 * k), "HDF5 bf16, v = 2k (CKA 1)", {}
    k = heads_around_common(rng, 5, 8, 16, 16, rhos=[0.95, 0.4, 0.7, 0.2])
    yield ("realistic_mh8", "st", "f32", dict(k=k, v=heads_around_common(rng, 5, 8, 16, 16, [0.8] * 4)),
           "multi-head, lock and collapse counts non-trivial", {})

    # Position-wise path (<= 4 KV heads).
    k = positions_low_rank(rng, 4, 1, 12, 16, shared=[[0.5], [1.5], [0.2], [2.5]])
    yield ("pos1_f32_st", "st", "f32", dict(k=k, v=gaussian(rng, 4, 1, 12, 16), q=q_for(rng, k, 4)),
           "1 KV head, v and q", {})
    k = positions_low_rank(rng, 3, 2, 10, 8, shared=[[0.3, 2.0], [1.0, 0.1], [2.0, 2.0]])
    yield ("pos2_f16_h5", "h5", "f16", dict(k=k, v=gaussian(rng, 3, 2, 10, 8)),
           "HDF5 f16 chunked+gzip", {"compress": True})
    k = positions_low_rank(rng, 2, 4, 9, 8, shared=[[0.0, 0.5, 1.0, 3.0], [3.0, 1.0, 0.5, 0.0]])
    yield ("pos4_bf16_h5", "h5", "bf16", dict(k=k, v=gaussian(rng, 2, 4, 9, 8), q=q_for(rng, k, 2)),
           "HDF5 bf16 (uint16 + attr), v and q", {})
    k = positions_low_rank(rng, 3, 4, 8, 8, shared=[[1.0, 0.2, 2.0, 0.7]] * 3)
    yield ("pos4_bf16_st", "st", "bf16", dict(k=k), "4 KV heads, bf16", {})
    k = positions_low_rank(rng, 3, 3, 7, 8, shared=[[1.0, 0.5, 0.0], [0.0, 1.0, 2.0], [1.0, 1.0, 1.0]])
    yield ("pos3_f16_st", "st", "f16", dict(k=k, v=k), "3 KV heads, v = k", {"metadata": {"model": "fixture"}})
    k = positions_low_rank(rng, 6, 2, 40, 32,
                           shared=[[2.5, 0.4], [0.1, 2.0], [0.8, 0.8], [3.0, 0.0], [0.0, 1.2], [0.6, 2.2]])
    v = positions_low_rank(rng, 6, 2, 40, 32, shared=[[1.0, 1.0]] * 6, rank=6)
    v = 0.6 * v + 0.4 * k
    yield ("realistic_pos2", "st", "f32", dict(k=k, v=v, q=cast(q_for(rng, k, 4), "bf16").astype(np.float32)),
           "6 layers, 2 KV heads, 40 positions, low rank + noise", {})

    # Small and degenerate shapes.
    yield "single_layer_mh6", "st", "f32", dict(k=gaussian(rng, 1, 6, 5, 8), v=gaussian(rng, 1, 6, 5, 8)), "1 layer", {}
    yield "single_layer_pos2", "h5", "f32", dict(k=gaussian(rng, 1, 2, 6, 8), v=gaussian(rng, 1, 2, 6, 8)), "1 layer", {}
    yield "seq1_pos2", "st", "f32", dict(k=gaussian(rng, 3, 2, 1, 8), v=gaussian(rng, 3, 2, 1, 8)), "seq 1 (seed returns early)", {}
    yield "seq1_mh6", "st", "f16", dict(k=gaussian(rng, 2, 6, 1, 8), v=gaussian(rng, 2, 6, 1, 8)), "seq 1 multi-head", {}
    yield "seq2_pos3", "st", "f32", dict(k=gaussian(rng, 4, 3, 2, 6), v=gaussian(rng, 4, 3, 2, 6)), "seq 2", {}
    yield "seq2_mh5", "h5", "f16", dict(k=gaussian(rng, 3, 5, 2, 4)), "seq 2 multi-head", {}
    yield "dim1_pos1", "st", "f32", dict(k=gaussian(rng, 3, 1, 6, 1), v=gaussian(rng, 3, 1, 6, 1)), "head_dim 1: cosines +-1", {}

    # Exact values: identical, orthogonal, zero.
    base = sign_cloud(rng, 1, 1, 8, 4)
    k = np.broadcast_to(base, (3, 6, 8, 4)).copy()
    yield ("identical_mh6", "st", "f32", dict(k=k, v=k.copy()),
           "identical heads and layers: coherence 1, entropy 1, composite at 10000", {})
    k = np.broadcast_to(sign_cloud(rng, 1, 1, 8, 4), (3, 2, 8, 4)).copy()
    yield "identical_pos2", "st", "bf16", dict(k=k), "identical heads and layers, position mode", {}
    eye = np.eye(8, dtype=np.float32) * 3.0
    yield ("orthogonal_pos1", "st", "f32", dict(k=np.broadcast_to(eye, (3, 1, 8, 8)).copy()),
           "one-hot positions: differentiation 1, GQA composite at 7500", {})
    yield ("orthogonal_pos2_h5", "h5", "f16", dict(k=np.broadcast_to(eye, (2, 2, 8, 8)).copy()),
           "one-hot positions, 2 heads", {})
    L, H, S, D = 3, 5, 2, 8
    k = np.zeros((L, H, S * D), np.float32)
    for l in range(L):
        for h in range(H):
            k[l, h, (l % 2) * 8 + h] = 1.0 + h
    yield ("orthogonal_mh5", "st", "f32", dict(k=k.reshape(L, H, S, D)),
           "disjoint head supports and alternating layer supports: coherence 0, cross 0", {})
    z = np.zeros((2, 6, 4, 8), np.float32)
    yield "zeros_mh6", "st", "f32", dict(k=z, v=z), "all zero: cosines 0, entropy 0, CKA 0", {}
    yield "zeros_pos2", "h5", "f32", dict(k=np.zeros((3, 2, 5, 4), np.float32)), "all zero, position mode", {}
    k = gaussian(rng, 3, 2, 6, 4)
    k[0, :, 2] = 0
    k[1, 1] = 0
    k[2, 0, ::2] = 0
    v = gaussian(rng, 3, 2, 6, 4)
    v[:, 1] = v[:, 1, :1]
    yield ("partial_zero_pos2", "st", "f32", dict(k=k, v=v),
           "some zero positions and a zero head; v head 1 constant over positions (CKA 0)", {})
    k = gaussian(rng, 2, 6, 4, 4)
    k[0, 2] = 0
    k[1, :, 1] = 0
    yield "partial_zero_mh6", "st", "f16", dict(k=k, v=np.full((2, 6, 4, 4), 0.1, np.float32)), "zero head; constant v", {}

    # Thresholds hit exactly (integer vectors with cos 7/10, 3/10, 1/2).
    a = [1, 0, 0, 0]
    b = [7, 7, 1, 1]        # cos(a, b) = 0.7
    c = [3, 9, 3, 1]        # cos(a, c) = 0.3, cos(b, c) = 0.88
    d = [10, 0, 0, 0]       # cos(b, d) = 0.7, cos(c, d) = 0.3
    e = [0, 0, 0, 5]
    zero = [0, 0, 0, 0]
    k = np.array([
        [a + zero, b + zero, c + zero, d + zero, zero + [2, 0, 0, 0]],
        [b + a, a + b, c + d, d + c, e + e],
        [d + zero, c + zero, b + zero, a + zero, e + zero],
    ], np.float32).reshape(3, 5, 2, 4)
    yield ("thr_mh_lock", "st", "bf16", dict(k=k, v=k[:, ::-1].copy()),
           "head cosines exactly 0.7 (locked: >=) and 0.3", {})
    one = [1, 0, 0, 0]
    ones = [1, 1, 1, 1]
    k = np.array([[one] * 5, [ones] * 5, [[0, 1, 1, 1]] * 5, [[1, -1, 1, -1]] * 5], np.float32)
    k = k.reshape(4, 5, 1, 4)
    yield ("thr_mh_collapse", "st", "f32", dict(k=k),
           "layer-mean cosines exactly 0.5 (no collapse: <), 0.866, -0.289", {})
    pos = np.array([a, c, b, d, e], np.float32)
    k = np.stack([np.stack([pos, 2 * pos[::-1]]), np.stack([pos[[1, 3, 0, 2, 4]], pos])])
    yield ("thr_pos_lock", "st", "f32", dict(k=k, v=k.copy()),
           "position cosines exactly 0.3 (seed: not locked, < 0.3) and 0.7", {})
    same = np.array([one, one], np.float32)
    half = np.array([one, ones], np.float32)
    k = np.stack([np.stack([same] * 3), np.stack([half] * 3), np.stack([same] * 3), np.stack([half] * 3)])
    yield ("thr_pos_collapse", "h5", "f32", dict(k=k),
           "differentiation 0, .5, 0, .5: smoothness exactly 0.5 (no collapse)", {})

    # Wide dynamic range.
    yield ("huge_pos2", "st", "f32", dict(k=gaussian(rng, 2, 2, 6, 8) * np.float32(1e20)),
           "magnitudes 1e20: squares overflow f32, not fp64", {})
    yield ("tiny_mh5", "st", "f32", dict(k=gaussian(rng, 2, 5, 3, 4) * np.float32(1e-22)),
           "magnitudes 1e-22: squares underflow f32, not fp64", {})


def generate(out_dir):
    """Writes every fixture into out_dir (created) and returns the manifest."""
    os.makedirs(out_dir, exist_ok=True)
    manifest = []
    for name, fmt, dtype, tensors, note, opts in fixtures():
        fname = name + (".safetensors" if fmt == "st" else ".h5")
        path = os.path.join(out_dir, fname)
        if fmt == "st":
            write_safetensors(path, tensors, dtype, metadata=opts.get("metadata"))
        else:
            write_hdf5(path, tensors, dtype, compress=opts.get("compress", False))
        manifest.append(dict(name=name, file=fname, format=fmt, dtype=dtype, note=note,
                             shapes={n: list(a.shape) for n, a in tensors.items()}))
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    return manifest


def _source_hash():
    with open(os.path.abspath(__file__), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def ensure_fixtures(root):
    """Returns (dir, manifest) of fixtures under root, generating them once.

    Generation goes to a private temporary directory renamed into place, so
    concurrent callers never see a partial set."""
    target = os.path.join(root, _source_hash())
    manifest_path = os.path.join(target, "manifest.json")
    if not os.path.exists(manifest_path):
        os.makedirs(root, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".tmp-", dir=root)
        try:
            generate(tmp)
            try:
                os.rename(tmp, target)
            except OSError:
                if not os.path.exists(manifest_path):
                    raise
        finally:
            if os.path.isdir(tmp):
                shutil.rmtree(tmp, ignore_errors=True)
    with open(manifest_path) as f:
        return target, json.load(f)


def main(argv):
    if len(argv) != 2:
        print("usage: make_bo_fixtures.py OUT_DIR", file=sys.stderr)
        return 2
    manifest = generate(argv[1])
    total = sum(os.path.getsize(os.path.join(argv[1], m["file"])) for m in manifest)
    print(f"{len(manifest)} fixtures, {total} bytes in {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
