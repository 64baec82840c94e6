#!/usr/bin/env python3
"""`qkgeom capture` end to end: for each tiny checkpoint (tests/fixtures/make_tiny_checkpoints.py)
capture the reference prompts and compare the written snapshot's q, k, v with HF
transformers' post-RoPE tensors in reference.safetensors (max abs error <= 1e-4, f32),
prompt 1 also through `--out X.h5` (read with h5py); then check that `qkgeom score
--snapshot` reads the file, and that bad --ids and an unknown --out extension are usage
errors (exit 2) and a missing model directory bad input (exit 3)."""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
from safetensors.numpy import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refcommon as rc  # noqa: E402

MODELS = ["llama3", "llama_linear", "mistral", "qwen2", "qwen3", "qwen3_yarn", "gemma3_text", "bert", "gemma2",
          "olmo2", "phi3"]
TOL = 1e-4


def read_snapshot(path):
    """q, k, v of a snapshot file, with the safetensors library or h5py."""
    if path.endswith(".h5"):
        with h5py.File(path, "r") as f:
            return {t: f[t][()] for t in ("q", "k", "v")}
    return load_file(path)


def main():
    qkgeom = rc.require_cli()
    root = os.path.join(rc.SOURCE_DIR, "tests", "fixtures", "models")
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in MODELS:
            ref = load_file(os.path.join(root, name, "reference.safetensors"))
            layers = len([k for k in ref if k.startswith("k_0_")])
            for p, ext in ((0, "safetensors"), (1, "safetensors"), (1, "h5")):
                out = os.path.join(tmp, f"{name}_{p}.{ext}")
                ids = ",".join(str(int(i)) for i in ref[f"ids_{p}"])
                r = subprocess.run([qkgeom, "capture", "--model", os.path.join(root, name),
                                    "--ids", ids, "--out", out, "--dtype", "f32",
                                    "--device", rc.DEVICE], capture_output=True, text=True)
                if r.returncode != 0:
                    print(f"FAILED: {name} prompt {p}: exit {r.returncode}: {r.stderr}")
                    failures += 1
                    continue
                snap = read_snapshot(out)
                worst = 0.0
                for t in ("q", "k", "v"):
                    want = np.stack([ref[f"{t}_{p}_{l}"] for l in range(layers)])
                    if snap[t].shape != want.shape:
                        print(f"FAILED: {name} {t} shape {snap[t].shape} != {want.shape}")
                        failures += 1
                        continue
                    worst = max(worst, float(np.abs(snap[t] - want).max()))
                status = "ok" if worst <= TOL else "FAILED"
                failures += worst > TOL
                print(f"{status}: {name} prompt {p} ({ext}): max abs error {worst:.3g}")
            out = os.path.join(tmp, f"{name}_1.safetensors")
            s = subprocess.run([qkgeom, "score", "--snapshot", out, "--json"], capture_output=True,
                               text=True)
            if s.returncode != 0:
                print(f"FAILED: score of {name}'s capture: exit {s.returncode}: {s.stderr}")
                failures += 1
        bad = subprocess.run([qkgeom, "capture", "--model", os.path.join(root, "qwen3"), "--ids",
                              "1,,2", "--out", os.path.join(tmp, "x.safetensors")],
                             capture_output=True, text=True)
        missing = subprocess.run([qkgeom, "capture", "--model", os.path.join(tmp, "absent"), "--ids",
                                  "1", "--out", os.path.join(tmp, "x.safetensors")],
                                 capture_output=True, text=True)
        bad_ext = subprocess.run([qkgeom, "capture", "--model", os.path.join(root, "qwen3"), "--ids",
                                  "1", "--out", os.path.join(tmp, "x.npy")],
                                 capture_output=True, text=True)
        # Each message names what is wrong: the option (parse errors come from CLI11,
        # without the "qkgeom: error:" prefix) or the file.
        for what, r, code, needle in (("bad --ids", bad, 2, "--ids"),
                                      ("missing model", missing, 3, "qkgeom: error:"),
                                      ("--out x.npy", bad_ext, 2, "x.npy")):
            ok = r.returncode == code and needle in r.stderr
            print(f"{'ok' if ok else 'FAILED'}: {what}: exit {r.returncode}: {r.stderr.strip()}")
            failures += not ok
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
