#!/usr/bin/env python3
"""Runs the seed's own Go code (built by run_seed.sh) on a snapshot.

  seed_go.py SNAPSHOT [--shared DIR] [--cache DIR]

Prints the seed's BOResult fields plus "composite" and "features" for k, and,
when the snapshot has v, the same for v under "value" (the seed run on V).
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
SOURCES = ("run_seed.sh", "src/main.go", "src/inference/inference.go", "src/lem/minmax.go")


class SeedUnavailable(Exception):
    """go or the seed file is absent."""


def shared_dir(explicit=None):
    return explicit or os.environ.get("QK_SHARED_DIR") or os.path.join(REPO, "..", "shared")


def build(cache_dir, shared=None):
    """Builds the seed binary once per (seed, harness) content; returns its path."""
    shared = shared_dir(shared)
    seed = os.path.join(shared, "seeds", "lem-attention.go")
    if not os.path.isfile(seed):
        raise SeedUnavailable(f"seed not found: {seed}")
    h = hashlib.sha256()
    for path in (seed,) + tuple(os.path.join(HERE, s) for s in SOURCES):
        with open(path, "rb") as f:
            h.update(f.read())
    binary = os.path.join(cache_dir, h.hexdigest()[:16], "seed_bo")
    if os.path.exists(binary):
        return binary
    os.makedirs(os.path.dirname(binary), exist_ok=True)
    tmp = binary + f".tmp{os.getpid()}"
    proc = subprocess.run(["bash", os.path.join(HERE, "run_seed.sh"), "--shared", shared, tmp],
                          capture_output=True, text=True)
    if proc.returncode == 77:
        raise SeedUnavailable(proc.stderr.strip())
    if proc.returncode != 0:
        raise RuntimeError(f"run_seed.sh failed ({proc.returncode}):\n{proc.stderr}")
    os.replace(tmp, binary)
    return binary


def run_cloud(binary, x):
    """The seed on one [L,H,S,D] cloud -> its JSON as a dict."""
    x = np.ascontiguousarray(x, dtype="<f4")
    with tempfile.NamedTemporaryFile(suffix=".f32") as f:
        f.write(x.tobytes())
        f.flush()
        proc = subprocess.run([binary, f.name] + [str(n) for n in x.shape],
                              capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"seed_bo failed ({proc.returncode}): {proc.stderr}")
    return json.loads(proc.stdout)


def run_snapshot(binary, snap):
    out = run_cloud(binary, snap["k"])
    if "v" in snap:
        out["value"] = run_cloud(binary, snap["v"])
    return out


def main(argv=None):
    sys.path.insert(0, os.path.join(REPO, "tests", "reference"))
    from bo_reference import load_snapshot
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("snapshot")
    ap.add_argument("--shared", help="shared dir (default $QK_SHARED_DIR or ../shared)")
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "qkseed-cache"))
    args = ap.parse_args(argv)
    try:
        binary = build(args.cache, args.shared)
    except SeedUnavailable as e:
        print(f"seed_go: {e}", file=sys.stderr)
        return 77
    json.dump(run_snapshot(binary, load_snapshot(args.snapshot)), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
