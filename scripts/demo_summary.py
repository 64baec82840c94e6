#!/usr/bin/env python3
"""The demo's closing summary, read back from the files with h5py: per layer the mean
attention entropy (nats) and sink mass (attention on token 0) over probes and heads, the
mean composite by domain, and with --static the operator alignment verdict `qkgeom align`
stored there (with the mean cosines it rests on).

Usage: demo_summary.py SWEEP.h5 [--static STATIC.h5] [--note TEXT]
"""
import argparse
import json
import os

import h5py
import numpy as np


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def layer_kinds(model_path, layers):
    """'S' (sliding window) or 'F' (full) per layer from the model's config.json, else ''."""
    try:
        types = json.load(open(os.path.join(model_path, "config.json"))).get("layer_types")
    except (OSError, ValueError):
        types = None
    if not types or len(types) != layers:
        return [""] * layers
    return ["S" if t == "sliding_attention" else "F" for t in types]


def strings(d):
    """A store's string column as str: a text column (docs/hdf5-schema.md "Strings"), or the
    HDF5 strings of a v4 store."""
    if "utf8_bytes" not in d.attrs:
        return [text(x) for x in d[()]]
    blob, ends = d.file[d.attrs["utf8_bytes"]][()].tobytes(), [int(e) for e in d[()]]
    return [blob[a:b].decode("utf-8", "surrogateescape") for a, b in zip([0] + ends[:-1], ends)]


def sweep_summary(f):
    ok = np.array(strings(f["probe/status"])) == "ok"
    ent = f["attention/entropy"][()][ok]      # [probes, layers, heads], nats
    sink = f["attention/sink_mass"][()][ok]   # [probes, layers, heads], probability
    comp = f["bo/composite"][()][ok]
    dom = np.array(strings(f["probe/domain"]))[ok]
    model = text(f.attrs["model_path"])
    print(f"{ok.sum()} probes with status ok ({int(f['probe/tokens'][()][ok].sum())} tokens), "
          f"model {model}, device {text(f.attrs['device'])}, dtype {text(f.attrs['dtype'])}")
    kinds = layer_kinds(model, ent.shape[1])
    print("per layer, mean over probes and heads (S sliding window, F full attention):")
    print("  layer  kind  entropy (nats)  sink mass")
    for layer in range(ent.shape[1]):
        print(f"  {layer:5d}  {kinds[layer]:>4}  {ent[:, layer].mean():14.3f}  "
              f"{sink[:, layer].mean():9.3f}")
    print("mean composite by domain:")
    for d in sorted(set(dom)):
        print(f"  {d:<14} {comp[dom == d].mean():8.1f}  ({(dom == d).sum()} probes)")


def align_summary(path):
    with h5py.File(path, "r") as f:
        if "align" not in f:
            print(f"{path}: no align/ group (qkgeom align did not run)")
            return
        g = f["align"]
        verdict, anchor = text(g.attrs["verdict"]), int(g.attrs["anchor"])
        to_anchor = g["rescale_mean_cos"][()].mean()  # the verdict's statistic
        adjacent = g["adjacent_cos"][()].mean()
    print(f"operator alignment (qkgeom align): verdict {verdict}; mean operator cosine to "
          f"the anchor layer {anchor} {to_anchor:+.4f}, between adjacent layers {adjacent:+.4f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweep")
    ap.add_argument("--static")
    ap.add_argument("--note")
    a = ap.parse_args()
    if a.note:
        print(a.note)
    with h5py.File(a.sweep, "r") as f:
        sweep_summary(f)
    if a.static:
        align_summary(a.static)


if __name__ == "__main__":
    main()
