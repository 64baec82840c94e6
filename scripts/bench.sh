#!/usr/bin/env bash
# `make bench`: Google Benchmark of the metric set and its ops and of the attention
# statistics, the side-by-side against the numpy baseline, prefill against HF
# transformers, the probe sweep against HF transformers + PyTorch, the simplex volumes
# against torch's Cayley-Menger determinants, the static pass against torch svdvals and the
# whole-process startup (front end vs engine, --lem-compat vs the seed's Go) and the
# default thread count under a competing load (bench/), with results
# (device, date, command) in bench/results/.
# BENCH_QUICK=1 limits both to S <= 1024 (about a minute).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
OUT=bench/results
mkdir -p "$OUT"
filter=()
quick=()
if [ "${BENCH_QUICK:-0}" = 1 ]; then
  filter=(--benchmark_filter='S:(128|1024)/')
  quick=(--quick)
fi
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)
echo "== bench_bo on $(hostname): $cpu, $(nproc) cores, $stamp"
cmd=("$BUILD/bench_bo" "${filter[@]}" --benchmark_out="$OUT/bench_bo_cpu.json" --benchmark_out_format=json)
echo "+ ${cmd[*]}"
"${cmd[@]}"
echo
cmd=(python3 bench/side_by_side/bench_side_by_side.py --qkgeom "$BUILD/qkgeom" "${quick[@]}"
  --json-out "$OUT/side_by_side.json" --markdown-out "$OUT/side_by_side.md")
echo "== side by side with numpy"
echo "+ ${cmd[*]}"
"${cmd[@]}"
echo
cmd=("$BUILD/bench_attention_stats" --benchmark_out="$OUT/bench_attention_stats_cpu.json" --benchmark_out_format=json)
echo "== attention statistics"
echo "+ ${cmd[*]}"
"${cmd[@]}"
echo
cmd=(python3 bench/side_by_side/bench_prefill_side_by_side.py --layers 4 --seqs 128,512 --qkgeom "$BUILD/qkgeom"
  --json-out "$OUT/prefill_side_by_side.json" --markdown-out "$OUT/prefill_side_by_side.md")
echo "== prefill side by side with HF transformers"
echo "+ ${cmd[*]}"
"${cmd[@]}"
echo
cmd=(python3 bench/side_by_side/bench_sweep_side_by_side.py --layers 2 --probes 8 --seqs 128,512
  --repeats 3 --dtype f32 --device cpu --qkgeom "$BUILD/qkgeom"
  --json-out "$OUT/sweep_side_by_side.json" --markdown-out "$OUT/sweep_side_by_side.md")
echo "== sweep side by side with HF transformers + PyTorch"
echo "+ ${cmd[*]}"
"${cmd[@]}"
echo
cmd=(python3 bench/side_by_side/bench_simplex_side_by_side.py --bench "$BUILD/bench_simplex"
  --json-out "$OUT/simplex_side_by_side.json" --markdown-out "$OUT/simplex_side_by_side.md")
echo "== simplex volumes side by side with torch (Cayley-Menger det)"
echo "+ ${cmd[*]}"
"${cmd[@]}"
echo
cmd=(python3 bench/side_by_side/bench_static_side_by_side.py --layers 2 --baseline-heads 4 --device cpu
  --qkgeom "$BUILD/qkgeom"
  --json-out "$OUT/static_side_by_side.json" --markdown-out "$OUT/static_side_by_side.md")
echo "== static pass side by side with torch svdvals of the formed operator"
echo "+ ${cmd[*]}"
"${cmd[@]}"
echo
cmd=(python3 bench/side_by_side/bench_startup_side_by_side.py --build "$BUILD"
  --json-out "$OUT/startup_side_by_side.json" --markdown-out "$OUT/startup_side_by_side.md")
echo "== whole-process startup: front end vs engine, and --lem-compat vs the seed's Go"
echo "+ ${cmd[*]}"
"${cmd[@]}"
echo
cmd=(python3 bench/side_by_side/bench_threads_competing_load.py --qkgeom "$BUILD/qkgeom" --repeats 3 --unloaded --active
  --json-out "$OUT/threads_competing_load.json" --markdown-out "$OUT/threads_competing_load.md")
echo "== default threads vs --threads 1 under a competing CPU load (weights, sweep, --save-kv k)"
echo "+ ${cmd[*]}"
"${cmd[@]}"
