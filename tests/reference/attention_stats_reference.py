#!/usr/bin/env python3
"""Attention statistics per (layer, query head) the direct way, in numpy fp64: the full
softmax of every query over its allowed keys (docs/metrics.md, "Attention statistics").

  attention_stats_reference.py SNAPSHOT.safetensors [--mask causal|full|sliding]
                               [--window N] [--scale X] [--softcap C]   -> one JSON object

With a soft-cap C > 0 every logit s = scale q.k becomes C tanh(s / C) before the mask, as
Gemma 2's eager attention in transformers (attn_logit_softcapping).

The attention mass by distance sums p_ij over the keys j of each distance bucket
(D = |i - j|: bucket 0 is D = 0, bucket b >= 1 is 2^(b-1) <= D < 2^b, the last one,
DISTANCE_BUCKETS - 1, open-ended) and averages over the queries i.
"""
import argparse
import json
import math

import numpy as np

DISTANCE_BUCKETS = 16


def distance_buckets(seq):
    """[seq, seq] int: the distance bucket of key j for query i, from log2 |i - j|."""
    d = np.abs(np.arange(seq)[:, None] - np.arange(seq)[None, :]).astype(np.float64)
    b = np.floor(np.log2(np.maximum(d, 1.0))).astype(np.int64) + 1
    return np.where(d == 0, 0, np.minimum(b, DISTANCE_BUCKETS - 1))


def allowed(mask, seq, window):
    """[seq, seq] bool: query i may attend to key j."""
    i = np.arange(seq)[:, None]
    j = np.arange(seq)[None, :]
    if mask == "full":
        return np.ones((seq, seq), dtype=bool)
    causal = j <= i
    if mask == "causal":
        return causal
    if mask == "sliding":
        if window < 1:
            raise ValueError("sliding needs window >= 1")
        return causal & (i - j < window)
    raise ValueError(f"unknown mask {mask!r}")


def layer_stats(q, k, scale, mask, window, softcap=0.0):
    """q [Hq, S, d], k [Hkv, S, d] -> (entropy, logit_std, sink), each [Hq] (fp64)."""
    return masked_stats(q, k, scale, allowed(mask, q.shape[1], window), softcap)


def masked_stats(q, k, scale, ok, softcap=0.0):
    """layer_stats under the [S, S] bool mask ok (query i may attend to key j); logits
    soft-capped at softcap when > 0. A fourth value: the distance masses [Hq, buckets]."""
    hq = q.shape[0]
    group = hq // k.shape[0]
    ent, std, sink = np.zeros(hq), np.zeros(hq), np.zeros(hq)
    dist = np.zeros((hq, DISTANCE_BUCKETS))
    seq = q.shape[1]
    bucket = distance_buckets(seq)[ok]  # the allowed pairs' buckets, row-major
    for h in range(hq):
        s = scale * (q[h].astype(np.float64) @ k[h // group].astype(np.float64).T)
        if softcap > 0:
            s = softcap * np.tanh(s / softcap)
        s_masked = np.where(ok, s, -np.inf)
        m = s_masked.max(axis=1, keepdims=True)
        e = np.where(ok, np.exp(s_masked - m), 0.0)
        p = e / e.sum(axis=1, keepdims=True)
        logp = np.where(ok & (p > 0), np.log(np.where(p > 0, p, 1.0)), 0.0)
        ent[h] = np.mean(-(p * logp).sum(axis=1))
        n = ok.sum(axis=1)
        mean = np.where(ok, s, 0.0).sum(axis=1) / n
        var = np.where(ok, (s - mean[:, None]) ** 2, 0.0).sum(axis=1) / n
        std[h] = np.mean(np.sqrt(var))
        sink[h] = np.mean(np.where(ok[:, 0], p[:, 0], 0.0))
        # mean over queries of each bucket's mass = the bucket's total mass / seq
        dist[h] = np.bincount(bucket, weights=p[ok], minlength=DISTANCE_BUCKETS) / seq
    return ent, std, sink, dist


def analyse(q, k, mask="causal", window=0, scale=None, softcap=0.0):
    """q [L, Hq, S, d], k [L, Hkv, S, d] -> dict of the engine's JSON field names."""
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    out = {"attention_entropy_nats": [], "attention_logit_std": [], "attention_sink_mass": [],
           "attention_distance_mass": []}
    for layer in range(q.shape[0]):
        e, s, p, d = layer_stats(q[layer], k[layer], scale, mask, window, softcap)
        out["attention_entropy_nats"].append(e.tolist())
        out["attention_logit_std"].append(s.tolist())
        out["attention_sink_mass"].append(p.tolist())
        out["attention_distance_mass"].append(d.tolist())
    for name in ("entropy_nats", "logit_std", "sink_mass"):
        out["mean_attention_" + name] = float(np.mean(out["attention_" + name]))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("snapshot")
    ap.add_argument("--mask", default="causal", choices=("causal", "full", "sliding"))
    ap.add_argument("--window", type=int, default=0)
    ap.add_argument("--scale", type=float, default=None)
    ap.add_argument("--softcap", type=float, default=0.0)
    a = ap.parse_args()
    from safetensors.numpy import load_file
    t = load_file(a.snapshot)
    q = t["q"].astype(np.float32)
    k = t["k"].astype(np.float32)
    print(json.dumps(analyse(q, k, a.mask, a.window, a.scale, a.softcap)))


if __name__ == "__main__":
    main()
