#!/usr/bin/env python3
"""Independent numpy references of `qkgeom align` and `qkgeom correlate`, computed from the
files `--export-legacy` writes (the inputs of the seeds' own analyses):

  align:     grams.json (num_layers, num_heads, head_dim, hidden_size, gram [L][L][H]) and the
             eigdirs .pt (eig_dirs [L,H,topk,hidden], sym_eigs [L,H,2d]) -> the seed's
             analyses (a)-(d) and verdict (shared/seeds/interlayer-operator-alignment.py);
  correlate: the static/dynamic JSON (static[].metric_singvals_per_head,
             dynamic[].mean_attention_entropy_per_head / mean_logit_std_per_head) -> the
             seed's descriptors, Pearson and Spearman correlations, layer thirds, best
             predictor and standardized regression (shared/seeds/head-geometry-vs-entropy.py).

Written from the seeds' formulas for this project; layer thirds from the real layer count.
Usage: study_reference.py align GRAMS.json [--anchor L] | correlate STATIC_DYNAMIC.json
Prints one JSON object with the field names of qkgeom's --json output."""
import argparse
import json
import sys

import numpy as np


def thirds(n):
    return [(0, n // 3), (n // 3, 2 * n // 3), (2 * n // 3, n)]


def align(path, anchor):
    import torch
    d = json.load(open(path))
    L, H = d["num_layers"], d["num_heads"]
    gram = np.array(d["gram"], dtype=np.float64)
    pt = torch.load(d["eigdirs_path"], weights_only=True)
    vec = pt["eig_dirs"].double().numpy()
    eig = pt["sym_eigs"].double().numpy()
    a = L - 1 if anchor < 0 else anchor
    dsq = np.einsum("llh->lh", gram)
    dn = np.sqrt(np.maximum(dsq, 1e-20))
    hc = gram / np.maximum(dn[:, None, :] * dn[None, :, :], 1e-20)  # [L, L, H]
    cos = hc.mean(axis=2)
    out = {"cos_matrix": cos.tolist(), "adjacent_cos": [cos[l, l + 1] for l in range(L - 1)]}
    out["to_anchor_cos"] = cos[:, a].tolist()
    out["to_anchor_scale"] = (gram[:, a, :] / np.maximum(dsq[a], 1e-20)).mean(axis=1).tolist()
    out["to_anchor_residual"] = np.sqrt(np.maximum(1 - cos[:, a] ** 2, 0)).tolist()
    out["rescale_mean_cos"] = hc[:, a, :].mean(axis=1).tolist()
    out["rescale_mean_residual"] = np.sqrt(np.clip(1 - hc[:, a, :] ** 2, 0, 1)).mean(axis=1).tolist()
    ks, agree_mean, agree_thirds = [], [], []
    k = 2
    while k <= min(256, eig.shape[2]):
        ag = (np.sign(eig[:, :, :k]) == np.sign(eig[a, :, :k])[None]).mean(axis=2)  # [L, H]
        ks.append(k)
        agree_mean.append(float(ag.mean()))
        agree_thirds.append([float(ag[lo:hi].mean()) if hi > lo else float("nan") for lo, hi in thirds(L)])
        k *= 2
    out.update(sign_k=ks, sign_agree=agree_mean, sign_agree_thirds=agree_thirds)
    out["frac_positive"] = (eig > 0).mean(axis=(1, 2)).tolist()
    pm, pn, t1 = [], [], []
    for l in range(L):
        m, n, t = [], [], []
        for h in range(H):
            A, B = vec[l, h], vec[a, h]
            qa, _ = np.linalg.qr(A.T)
            qb, _ = np.linalg.qr(B.T)
            s = np.linalg.svd(qa.T @ qb, compute_uv=False)
            m.append(s.mean())
            n.append(s.min())
            t.append(float(A[0] @ B[0]) ** 2)
        pm.append(np.mean(m))
        pn.append(np.mean(n))
        t1.append(np.mean(t))
    out.update(pa_mean_cos=pm, pa_min_cos=pn, pa_top1_overlap=t1)
    mc = float(np.mean(out["rescale_mean_cos"]))
    out["mean_cos_to_anchor"] = mc
    out["mean_adjacent_cos"] = float(np.mean(out["adjacent_cos"])) if L > 1 else float("nan")
    out["verdict"] = ("STRONG" if mc > 0.9 else "MEDIUM" if mc > 0.5 else "WEAK" if mc > 0.1 else "REJECTED")
    out["anchor"] = a
    return out


def descriptors(s):
    s = np.asarray(s, dtype=np.float64)
    p = np.clip(s ** 2 / max((s ** 2).sum(), 1e-12), 1e-12, 1.0)
    return {"op": s.max(), "fro": np.sqrt((s ** 2).sum()), "trace": s.sum(),
            "rank_eff": s.sum() / max(s.max(), 1e-12), "spec_ent": float(-(p * np.log(p)).sum()),
            "anisotropy": s.max() / max(s.mean(), 1e-12), "condition": s.max() / max(s.min(), 1e-12)}


def ranks(x):
    order = np.argsort(x, kind="stable")
    r = np.empty(len(x))
    xs = np.asarray(x)[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and xs[j + 1] == xs[i]:
            j += 1
        r[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return r


def corr(x, y):
    if np.std(x) == 0 or np.std(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def correlate(path):
    d = json.load(open(path))
    L, H = d["num_layers"], d["num_heads"]
    ent = np.array([r["mean_attention_entropy_per_head"] for r in d["dynamic"]], dtype=np.float64)
    lstd = np.array([r["mean_logit_std_per_head"] for r in d["dynamic"]], dtype=np.float64)
    names = ["op", "fro", "trace", "rank_eff", "spec_ent", "anisotropy", "condition"]
    geom = {k: np.zeros((L, H)) for k in names}
    for l, row in enumerate(d["static"]):
        for h, s in enumerate(row["metric_singvals_per_head"]):
            for k, v in descriptors(s).items():
                geom[k][l, h] = v
    out = {"descriptors": {}}
    for k in names:
        g = geom[k]
        out["descriptors"][k] = {
            "pearson_entropy": corr(g.ravel(), ent.ravel()),
            "pearson_logit_std": corr(g.ravel(), lstd.ravel()),
            "spearman_entropy": corr(ranks(g.ravel()), ranks(ent.ravel())),
            "spearman_logit_std": corr(ranks(g.ravel()), ranks(lstd.ravel())),
            "pearson_entropy_thirds": [corr(g[lo:hi].ravel(), ent[lo:hi].ravel()) if hi - lo > 0 else float("nan")
                                       for lo, hi in thirds(L)]}
    best = max((k for k in names if not np.isnan(out["descriptors"][k]["pearson_entropy"])),
               key=lambda k: abs(out["descriptors"][k]["pearson_entropy"]))
    out["best_predictor"] = {"descriptor": best, "pearson_entropy": out["descriptors"][best]["pearson_entropy"]}
    cols = ["op", "spec_ent", "rank_eff", "anisotropy"]
    X = np.stack([geom[k].ravel() for k in cols], axis=1)
    X = (X - X.mean(axis=0)) / (X.std(axis=0) + 1e-12)
    y = ent.ravel()
    y = (y - y.mean()) / (y.std() + 1e-12)
    X1 = np.concatenate([X, np.ones((X.shape[0], 1))], axis=1)
    coef = np.linalg.lstsq(X1, y, rcond=None)[0]
    r2 = 1 - float(((y - X1 @ coef) ** 2).sum() / ((y - y.mean()) ** 2).sum())
    out["regression"] = {"r2": r2, "standardized_coefficients": dict(zip(cols, coef[:-1].tolist())),
                         "intercept": float(coef[-1])}
    return out


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("study", choices=["align", "correlate"])
    ap.add_argument("path")
    ap.add_argument("--anchor", type=int, default=-1)
    a = ap.parse_args(argv)
    res = align(a.path, a.anchor) if a.study == "align" else correlate(a.path)
    json.dump(res, sys.stdout, default=float)
    print()


if __name__ == "__main__":
    main()
