#!/usr/bin/env bash
# The embedded default job: score the shipped snapshot (keys, values and queries of
# the real all-MiniLM-L6-v2 for one prompt, made by scripts/make_demo_snapshot.py)
# in both modes, as a table and as JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
SNAP=tests/fixtures/minilm_demo.safetensors
OUT=$BUILD/demo
mkdir -p "$OUT"
echo "== qkgeom score --snapshot $SNAP"
"$BUILD/qkgeom" score --snapshot "$SNAP"
echo
echo "== qkgeom score --snapshot $SNAP --lem-compat --json  ->  $OUT/score_lem_compat.json"
"$BUILD/qkgeom" score --snapshot "$SNAP" --lem-compat --json > "$OUT/score_lem_compat.json"
"$BUILD/qkgeom" score --snapshot "$SNAP" --json > "$OUT/score_default.json"
python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
for mode in ("lem_compat", "default"):
    j = json.load(open(f"{out}/score_{mode}.json"))
    print(f"{mode:>10}: composite {j['composite']:5d}  coherence {j['mean_coherence']:.4f}  "
          f"phase-lock {j['phase_lock_score']:.4f}  entropy {j['mean_head_entropy']:.4f}  "
          f"kv-coupling {j.get('mean_kv_coupling', float('nan')):.4f}  ({j['backend']}, "
          f"{j['timing']['compute_ms']:.2f} ms)")
print(f"JSON written to {out}/score_default.json and {out}/score_lem_compat.json")
PY
