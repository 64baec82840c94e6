#!/usr/bin/env python3
"""`qkgeom sweep --batch-mode`: packed (the default) against lone, read back with h5py.

- Each probe's raw q/k/v (--save-kv qkv) from a packed sweep equal the lone sweep's (each
  probe with its own shapes, itself equal to `capture` and HF eager: test_sweep,
  test_model_runtime) within 1e-5 of each tensor's largest value; the attention statistics
  likewise (relative 1e-5); on the tiny qwen3, gemma2 (soft-capping, sliding window) and
  bert checkpoints, batches of several probes of mixed lengths.
- The store records `batch_mode`; a resume with the other mode is refused (exit 3, naming
  the attribute) unless --allow-mixed-numerics; a store without the attribute counts as
  lone; an unknown mode is a usage error (exit 2)."""
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
from refcommon import check, finish  # noqa: E402

REL_TOL = 1e-5


def sweep(qk, model, probes, out, *extra):
    # f32: the fixtures' own dtype on the CPU; on CUDA (QK_REF_DEVICE) auto would be bf16.
    return subprocess.run([qk, "sweep", "--model", model, "--probes", probes, "--out", out, "--device",
                           rc.DEVICE, "--dtype", "f32", "--batch-tokens", "200", "--quiet", *extra],
                          capture_output=True, text=True)


def write_probes(path, n, max_len):
    rng = random.Random(16)
    with open(path, "w") as f:
        for i in range(n):
            ids = [rng.randrange(128) for _ in range(rng.choice([1, 2, 7, rng.randrange(3, max_len)]))]
            f.write(json.dumps({"id": f"p{i}", "ids": ids}) + "\n")


def read(path):
    with h5py.File(path, "r") as f:
        d = {k: f[k][()] for k in ("kv/offset", "kv/count", "kv/q", "kv/k", "kv/v",
                                   "attention/entropy", "attention/sink_mass")}
        return d, rc.text_attr(f, "batch_mode")


def rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def compare(model, packed, lone):
    worst_kv = worst_attn = 0.0
    for i in range(len(lone["kv/offset"])):
        o, c = lone["kv/offset"][i], lone["kv/count"][i]
        for t in ("kv/q", "kv/k", "kv/v"):
            worst_kv = max(worst_kv, rel(packed[t][o:o + c], lone[t][o:o + c]))
        for t in ("attention/entropy", "attention/sink_mass"):
            worst_attn = max(worst_attn, rel(packed[t][i], lone[t][i]))
    check(worst_kv <= REL_TOL, f"{model}: packed q/k/v equal lone within {REL_TOL} (max {worst_kv:.2e})")
    check(worst_attn <= REL_TOL, f"{model}: packed attention statistics equal lone (max {worst_attn:.2e})")


def test_model(qk, name, tmp):
    model = os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models", name)
    probes = os.path.join(tmp, f"{name}.jsonl")
    write_probes(probes, 24, 64)
    outs = {}
    for mode in ("packed", "lone"):
        out = os.path.join(tmp, f"{name}_{mode}.h5")
        extra = ["--save-kv", "qkv", "--metrics", "attention"] + ([] if mode == "packed" else ["--batch-mode", "lone"])
        r = sweep(qk, model, probes, out, *extra)
        check(r.returncode == 0, f"{name}: sweep {mode} exits 0 ({r.stderr.strip()[-300:]})")
        if r.returncode != 0:
            return None
        outs[mode], attr = read(out)
        check(attr == mode, f"{name}: batch_mode attribute '{attr}' is '{mode}'")
    compare(name, outs["packed"], outs["lone"])
    return probes, os.path.join(tmp, f"{name}_lone.h5")


def test_resume(qk, probes, lone_store):
    model = os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models", "qwen3")
    r = sweep(qk, model, probes, lone_store, "--resume", "--save-kv", "qkv", "--metrics", "attention")
    check(r.returncode == 3 and "batch_mode" in r.stderr, f"resume of a lone store packed is refused "
          f"(exit {r.returncode}: {r.stderr.strip()[-200:]})")
    r = sweep(qk, model, probes, lone_store, "--resume", "--save-kv", "qkv", "--metrics", "attention",
              "--allow-mixed-numerics")
    check(r.returncode == 0, f"... accepted with --allow-mixed-numerics ({r.stderr.strip()[-200:]})")
    with h5py.File(lone_store, "r+") as f:
        del f.attrs["batch_mode"]
    for mode, want in (("lone", 0), ("packed", 3)):
        r = sweep(qk, model, probes, lone_store, "--resume", "--save-kv", "qkv", "--metrics", "attention",
                  "--batch-mode", mode)
        check(r.returncode == want, f"a store without batch_mode resumes as lone: --batch-mode {mode} "
              f"exits {r.returncode} (want {want})")
    r = sweep(qk, model, probes, lone_store + ".x", "--batch-mode", "padded")
    check(r.returncode == 2 and "--batch-mode" in r.stderr, f"--batch-mode padded is a usage error "
          f"(exit {r.returncode})")


def main():
    qk = rc.require_cli()
    with tempfile.TemporaryDirectory() as tmp:
        stores = None
        for name in ("qwen3", "gemma2", "bert"):
            got = test_model(qk, name, tmp)
            stores = stores or got
        if stores:
            test_resume(qk, *stores)
    finish("all passed")


if __name__ == "__main__":
    main()
