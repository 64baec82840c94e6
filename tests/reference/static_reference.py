"""Independent numpy reference of `qkgeom weights` (docs/static-geometry.md), the slow way:
every head's hidden x hidden operator g = Q^T K is formed and decomposed directly.

    python3 tests/reference/static_reference.py MODEL_DIR [--topk K] [--out ref.npz]

Weights come from the model's safetensors with safetensors.numpy; nothing of qkgeom is used.
"""
import argparse
import json
import os

import numpy as np

DESCRIPTORS = ("op", "fro", "trace", "rank_eff", "spec_ent", "anisotropy", "condition")


def load_config(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        c = json.load(f)
    heads = c["num_attention_heads"]
    return dict(
        model_type=c.get("model_type", ""),
        layers=c["num_hidden_layers"],
        heads=heads,
        kv_heads=c.get("num_key_value_heads") or heads,
        head_dim=c.get("head_dim") or c["hidden_size"] // heads,
        hidden=c["hidden_size"],
    )


def load_tensors(model_dir):
    """name -> numpy array of every tensor in model.safetensors or its shards."""
    from safetensors.numpy import load_file
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    out = {}
    for name in files:
        out.update(load_file(os.path.join(model_dir, name)))
    return out


def qk_weights(model_dir):
    """(config, [wq_l], [wk_l]) with wq_l [Hq*d, hidden], wk_l [Hkv*d, hidden] in float64."""
    cfg = load_config(model_dir)
    t = load_tensors(model_dir)
    wq, wk = [], []
    for l in range(cfg["layers"]):
        if cfg["model_type"] == "bert":
            pre = "" if "embeddings.word_embeddings.weight" in t or \
                "encoder.layer.0.attention.self.query.weight" in t else "bert."
            q = f"{pre}encoder.layer.{l}.attention.self.query.weight"
            k = f"{pre}encoder.layer.{l}.attention.self.key.weight"
        elif cfg["model_type"] == "phi3":  # qkv_proj rows q | k | v, as Phi3Attention slices
            pre = "model." if "model.embed_tokens.weight" in t else ""
            w = np.asarray(t[f"{pre}layers.{l}.self_attn.qkv_proj.weight"], dtype=np.float32)
            qd, kd = cfg["heads"] * cfg["head_dim"], cfg["kv_heads"] * cfg["head_dim"]
            wq.append(w[:qd].astype(np.float64))
            wk.append(w[qd:qd + kd].astype(np.float64))
            continue
        else:
            pre = "model." if "model.embed_tokens.weight" in t or \
                "model.layers.0.self_attn.q_proj.weight" in t else ""
            q = f"{pre}layers.{l}.self_attn.q_proj.weight"
            k = f"{pre}layers.{l}.self_attn.k_proj.weight"
        wq.append(np.asarray(t[q], dtype=np.float32).astype(np.float64))
        wk.append(np.asarray(t[k], dtype=np.float32).astype(np.float64))
    return cfg, wq, wk


def descriptors(s):
    """The seed's compute_per_head_geometry for one spectrum (head-geometry-vs-entropy.py)."""
    s = np.asarray(s, dtype=np.float64)
    p = (s ** 2) / max((s ** 2).sum(), 1e-12)
    p = np.clip(p, 1e-12, 1.0)
    return dict(op=s.max(), fro=np.sqrt((s ** 2).sum()), trace=s.sum(),
                rank_eff=s.sum() / max(s.max(), 1e-12), spec_ent=float(-(p * np.log(p)).sum()),
                anisotropy=s.max() / max(s.mean(), 1e-12), condition=s.max() / max(s.min(), 1e-12))


def exact_descriptors(s, g):
    """descriptors() of the exact spectrum s (the top d singular values of the hidden x hidden
    operator g), with condition = max s / min s unfloored, and inf when g is numerically
    rank-deficient: np.linalg.matrix_rank(g) < d."""
    out = descriptors(s)
    s = np.asarray(s, dtype=np.float64)
    out["condition"] = np.inf if np.linalg.matrix_rank(g) < len(s) else s.max() / s.min()
    return out


def head_operator(wq, wk, cfg, h):
    d, group = cfg["head_dim"], cfg["heads"] // cfg["kv_heads"]
    g = h // group
    Q = wq[h * d:(h + 1) * d]
    K = wk[g * d:(g + 1) * d]
    return Q, K, Q.T @ K


def reference(model_dir, topk=16):
    """Every dataset of STATIC.h5, by its path, plus 'attrs'."""
    cfg, wq, wk = qk_weights(model_dir)
    L, H, d, N = cfg["layers"], cfg["heads"], cfg["head_dim"], cfg["hidden"]
    out = {
        "exact/singular_values": np.zeros((L, H, d)),
        "shortcut/singular_values": np.zeros((L, H, d)),
        "symmetric/eigenvalues": np.zeros((L, H, 2 * d)),
        "symmetric/eigenvectors": np.zeros((L, H, topk, N)),
        "operator/fro_sq": np.zeros((L, H)),
        "operator/fro_sq_shortcut": np.zeros((L, H)),
        "operator/gram": np.zeros((L, L, H)),
    }
    ops = [[None] * H for _ in range(L)]
    for l in range(L):
        for h in range(H):
            Q, K, g = head_operator(wq[l], wk[l], cfg, h)
            ops[l][h] = g
            out["exact/singular_values"][l, h] = np.linalg.svdvals(g)[:d]
            short = K @ Q.T
            out["shortcut/singular_values"][l, h] = np.linalg.svdvals(short)
            w, v = np.linalg.eigh((g + g.T) / 2)
            order = np.argsort(-np.abs(w), kind="stable")[:2 * d]
            out["symmetric/eigenvalues"][l, h] = w[order]
            out["symmetric/eigenvectors"][l, h] = v[:, order[:topk]].T
            out["operator/fro_sq"][l, h] = np.sum(g * g)
            out["operator/fro_sq_shortcut"][l, h] = np.sum(short * short)
    for l in range(L):
        for lp in range(L):
            for h in range(H):
                out["operator/gram"][l, lp, h] = np.sum(ops[l][h] * ops[lp][h])
    for kind in ("exact", "shortcut"):
        sv = out[f"{kind}/singular_values"]
        desc = [[exact_descriptors(sv[l, h], ops[l][h]) if kind == "exact" else descriptors(sv[l, h])
                 for h in range(H)] for l in range(L)]
        for name in DESCRIPTORS:
            out[f"{kind}/{name}"] = np.array([[desc[l][h][name] for h in range(H)] for l in range(L)])
    out["attrs"] = dict(num_layers=L, num_heads=H, num_kv_heads=cfg["kv_heads"], head_dim=d,
                        hidden_size=N, topk=topk)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir")
    ap.add_argument("--topk", type=int, default=16)
    ap.add_argument("--out", help="write every array to this .npz")
    a = ap.parse_args()
    ref = reference(a.model_dir, a.topk)
    attrs = ref.pop("attrs")
    print(json.dumps(attrs))
    for k, v in ref.items():
        print(f"{k:32} {tuple(v.shape)} max|.| {np.abs(v).max():.6g}")
    if a.out:
        np.savez(a.out, **ref)


if __name__ == "__main__":
    main()
