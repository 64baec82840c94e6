#!/usr/bin/env bash
# GPU checks of qkgeom (issue 16), for a CUDA machine (an H200 with 16 cores here: nvcc,
# cmake, ninja, python3 with torch and transformers, no network, no apt). Budget: about
# 8 minutes in all (BUDGET_S), so that the device's 15 minutes fit a rerun.
# Usage: scripts/gpu_check.sh [RESULTS_DIR]   (default bench/results)
#
#  0. without a GPU (no nvidia-smi, or it lists none): says so and exits 0, nothing run;
#  1. records the machine: date, nvidia-smi, nvcc, cmake, git revision;
#  2. unpacks carried Debian packages (.carry/debs, made by scripts/gpu_carry.sh on a
#     machine with Debian's archive) into .carry/root, keeping only the runtime
#     libraries this machine lacks;
#  3. configures the project with CUDA (tests and benchmarks on); if that fails,
#     without libtorch, then also without benchmarks; builds every target below in one
#     parallel build;
#  4. the CUDA libraries linked: what ldd resolves for qkgeom-engine (cudart, cuBLAS,
#     cuBLASLt, cuSOLVER); a mix of the toolkit's and the torch wheel's (two folders, or
#     two major versions) fails;
#  5. every kernel family's CPU/GPU parity (test_gpu_parity: head Gram, position cosine,
#     magnitude entropy, layer alignment, K-V CKA, attention statistics, static Gram,
#     simplex volumes), the suites with GPU cases (attention statistics, static pass with
#     cuSOLVER, RoPE geometry, simplex, model runtime and packed batches on CUDA, the
#     layer-by-layer analysis on the device, torch's stream and finite flags), then
#     `weights` (cuSOLVER), the sweep's packed vs lone batches (f32) and rope-geometry
#     through the CLI with --device cuda (reference tests), and the whole sweep on the
#     device against the CPU (scripts/gpu_sweep_parity.py: f32, bf16 by default, soft-cap,
#     multi-head BO, non-finite reports);
#  6. test_gpu_parity under compute-sanitizer --tool memcheck;
#  7. the model runtime on CUDA against HF eager on the GPU, f32 and bf16
#     (scripts/gpu_hf_parity.py);
#  8. the benchmarks with their targets: bench_bo's CUDA cases (BO metrics, Qwen3-4B
#     shape, S = 8192: < 5 ms), the static pass (< 2 s), the sweep (>= 5x the HF
#     baseline, >= 50% of the bf16 roofline, analysis + I/O < 10%); each verdict is a
#     TARGET line in the log.
# Every command and its output go to RESULTS_DIR/gpu_check.log; each step runs under a
# timeout and is skipped when the budget is spent (said in the log). The exit status is
# non-zero when a build, a test, memcheck, the library check or a target failed.
#
# Environment: BUILD (build dir, default build-gpu), CUDA_ARCH (default 90), JOBS,
# BUDGET_S (default 480), MEMCHECK_FILTER (gtest filter under memcheck, default
# the kernel families' parity cases), SKIP_MEMCHECK=1, SKIP_BENCH=1.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
REPO=$(pwd)

RESULTS=${1:-bench/results}
mkdir -p "$RESULTS"
RESULTS=$(cd "$RESULTS" && pwd)
BUILD=${BUILD:-build-gpu}
CUDA_ARCH=${CUDA_ARCH:-90}
JOBS=${JOBS:-$(nproc)}
LOG=$RESULTS/gpu_check.log
status=0

log() { echo "$*" | tee -a "$LOG"; }
# Runs a command, echoing it and its output into the log; returns its status.
run() {
  log "+ $*"
  "$@" 2>&1 | tee -a "$LOG"
  return "${PIPESTATUS[0]}"
}
fail() {
  log "FAILED: $*"
  status=1
}

[ -d /usr/local/cuda/bin ] && export PATH=/usr/local/cuda/bin:$PATH
BUDGET_S=${BUDGET_S:-480}
T0=$SECONDS
# Seconds of the budget left (0 when spent).
left() {
  local l=$((BUDGET_S - (SECONDS - T0)))
  echo $((l > 0 ? l : 0))
}
# Runs a step under `timeout` of at most its share (first argument, seconds) of what is
# left; logs and skips it when under 20 s are left.
step() {
  local want=$1
  shift
  local l
  l=$(left)
  if [ "$l" -lt 20 ]; then
    log "SKIPPED (budget of ${BUDGET_S} s spent): $*"
    return 0
  fi
  run timeout --kill-after=10 "$((want < l ? want : l))" "$@"
}

# -- 0. a GPU? -------------------------------------------------------------------------
gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true)
if [ "${gpus:-0}" -eq 0 ]; then
  why="nvidia-smi not found"
  command -v nvidia-smi >/dev/null && why="nvidia-smi lists no GPU ($(nvidia-smi -L 2>&1 | head -n 1))"
  # The log of the last GPU run stays as it is.
  echo "gpu_check: no GPU on $(hostname): $why; nothing was run (run this on the GPU machine)" >&2
  exit 0
fi
: >"$LOG"

log "== qkgeom gpu_check $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname), budget ${BUDGET_S} s"
log "results: $RESULTS"
if command -v git >/dev/null && git rev-parse HEAD >/dev/null 2>&1; then
  log "revision: $(git rev-parse HEAD)$(git diff --quiet HEAD 2>/dev/null || echo ' (modified)')"
fi
run nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv || true
run nvidia-smi || true
run nvcc --version || true
run cmake --version || true

# -- 2. carried packages -------------------------------------------------------------
CARRY=$REPO/.carry
ROOT=$CARRY/root
EXTRA_CMAKE=()
if [ -d "$CARRY/debs" ] && ls "$CARRY"/debs/*.deb >/dev/null 2>&1; then
  # The unpacked tree is specific to this path and machine (pruned libraries, .pc paths).
  stamp="$ROOT on $(hostname)"
  if [ "$(cat "$ROOT/.unpacked" 2>/dev/null)" != "$stamp" ]; then
    log "unpacking $(find "$CARRY/debs" -name "*.deb" | wc -l) carried packages into $ROOT"
    rm -rf "$ROOT"
    mkdir -p "$ROOT"
    unpacked=1
    for deb in "$CARRY"/debs/*.deb; do
      if command -v dpkg-deb >/dev/null; then
        dpkg-deb -x "$deb" "$ROOT" || unpacked=0
      else
        tmp=$(mktemp -d)
        (cd "$tmp" && ar x "$deb" && tar -xf data.tar.* -C "$ROOT") || unpacked=0
        rm -rf "$tmp"
      fi
    done
    [ "$unpacked" = 1 ] || fail "unpacking carried packages (dpkg-deb, or ar and tar, needed)"
    # Runtime libraries the machine already has are dropped: its own ones win.
    have=$(ldconfig -p 2>/dev/null | awk 'NR > 1 {print $1}' | sort -u)
    for lib in "$ROOT"/usr/lib/x86_64-linux-gnu/lib*.so.* "$ROOT"/lib/x86_64-linux-gnu/lib*.so.*; do
      [ -e "$lib" ] || continue
      if grep -qxF "$(basename "$lib")" <<<"$have"; then rm -f "$lib"; fi
    done
    # pkg-config files name absolute /usr paths: point them into the unpacked root.
    find "$ROOT" -name '*.pc' -exec sed -i "s|/usr/|$ROOT/usr/|g" {} +
    [ "$unpacked" = 1 ] && echo "$stamp" >"$ROOT/.unpacked"
  fi
  LIBDIR=$ROOT/usr/lib/x86_64-linux-gnu
  export CMAKE_PREFIX_PATH=$ROOT/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}
  export PKG_CONFIG_PATH=$LIBDIR/openblas-pthread/pkgconfig:$LIBDIR/pkgconfig:$LIBDIR/hdf5/serial/pkgconfig:$ROOT/usr/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
  export LD_LIBRARY_PATH=$LIBDIR:$LIBDIR/openblas-pthread:$LIBDIR/hdf5/serial:$ROOT/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  if ! command -v pkg-config >/dev/null && [ -x "$ROOT/usr/bin/pkgconf" ]; then
    EXTRA_CMAKE+=("-DPKG_CONFIG_EXECUTABLE=$ROOT/usr/bin/pkgconf")
  fi
  log "carried packages in use: CMAKE_PREFIX_PATH=$CMAKE_PREFIX_PATH"
else
  log "no carried packages (.carry/debs): using what this machine has"
fi

# -- 3. configure --------------------------------------------------------------------
GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)
COMMON=(-DCMAKE_BUILD_TYPE=Release "-DCMAKE_CUDA_ARCHITECTURES=$CUDA_ARCH" -DQKGEOM_ENABLE_CUDA=ON
  "${EXTRA_CMAKE[@]}")
mode=""
# Attempts in order: everything; without libtorch (the model runtime, not needed
# here); without the benchmarks.
attempts=(
  "full|.|-DQKGEOM_BUILD_TESTS=ON -DQKGEOM_BUILD_BENCH=ON"
  "full|.|-DQKGEOM_BUILD_TESTS=ON -DQKGEOM_BUILD_BENCH=ON -DQKGEOM_WITH_TORCH=OFF"
  "nobench|.|-DQKGEOM_BUILD_TESTS=ON -DQKGEOM_BUILD_BENCH=OFF -DQKGEOM_WITH_TORCH=OFF"
)
for attempt in "${attempts[@]}"; do
  IFS='|' read -r name src opts <<<"$attempt"
  rm -rf "$BUILD/CMakeCache.txt" "$BUILD/CMakeFiles"
  # shellcheck disable=SC2086  # opts is a list of words
  if run cmake -S "$src" -B "$BUILD" "${GEN[@]}" "${COMMON[@]}" $opts; then
    mode=$name
    break
  fi
done
log "configure mode: ${mode:-none}"
if [ -z "$mode" ]; then
  fail "no configuration succeeded (see above; scripts/gpu_carry.sh lists what to carry)"
  exit 1
fi

# One parallel build of every target the checks run (a target this configuration lacks
# is left out; what is missing is said when its check is skipped).
TARGETS=(qkgeom qkgeom-engine test_gpu_parity test_attention_stats test_static_gpu test_rope_gpu test_simplex
  test_model_runtime test_packed_batch test_layer_analysis bench_bo)
known=$(cmake --build "$BUILD" --target help 2>/dev/null)
want=()
for t in "${TARGETS[@]}"; do grep -q "^$t:" <<<"$known" && want+=("$t"); done
if ! step 300 cmake --build "$BUILD" -j "$JOBS" --target "${want[@]}"; then
  fail "building ${want[*]}"
  exit 1
fi
bin() { find "$BUILD" -type f -name "$1" -perm -u+x | head -n 1; }

# -- 4. CUDA libraries: one consistent set -------------------------------------------
ENGINE=$(bin qkgeom-engine)
if [ -n "$ENGINE" ]; then
  libs=$(ldd "$ENGINE" | grep -E 'lib(cudart|cublas|cublasLt|cusolver|cusparse|nvJitLink)\.so' | awk '{print $1, $3}')
  log "CUDA libraries ldd resolves for $ENGINE:"
  log "$libs"
  dirs=$(awk '$1 ~ /^libcublas/ {print $2}' <<<"$libs" | xargs -r -n1 dirname | sort -u)
  majors=$(awk '$1 ~ /^libcublas/ {sub(/.*\.so\./, "", $1); print $1}' <<<"$libs" | sort -u)
  if grep -q "not" <<<"$(awk '{print $2}' <<<"$libs")"; then
    fail "a CUDA library of qkgeom-engine is not found (above)"
  elif [ "$(wc -l <<<"$dirs")" -gt 1 ] || [ "$(wc -l <<<"$majors")" -gt 1 ]; then
    fail "cuBLAS and cuBLASLt come from different places or versions (toolkit vs the torch wheel's): $(tr '\n' ' ' <<<"$dirs") majors $(tr '\n' ' ' <<<"$majors")"
  else
    log "CUDA libraries: one set ($(tr '\n' ' ' <<<"$dirs")major $(tr '\n' ' ' <<<"$majors"))"
  fi
else
  log "qkgeom-engine not built (configure mode $mode): library check skipped"
fi

# -- 5. parity tests and the GPU cases of the other suites --------------------------------
PARITY=$(bin test_gpu_parity)
step 90 "$PARITY" --gtest_output="xml:$RESULTS/test_gpu_parity.xml" || fail "test_gpu_parity"
declare -A FILTER=([test_model_runtime]='*Cuda*:*BatchBitwise*' [test_packed_batch]='*Cuda*'
  [test_layer_analysis]='*Device*:TorchView.*:BatchFeed.*')
for t in test_attention_stats test_static_gpu test_rope_gpu test_simplex test_model_runtime test_packed_batch \
  test_layer_analysis; do
  b=$(bin "$t")
  if [ -z "$b" ]; then
    log "$t: not in this configuration"
    continue
  fi
  step 60 "$b" --gtest_filter="${FILTER[$t]:-*}" --gtest_output="xml:$RESULTS/$t.xml" || fail "$t"
done
if [ "$mode" = full ] && [ -x "$BUILD/qkgeom" ]; then
  for t in ref_static_weights ref_sweep_batch_mode ref_rope_geometry; do
    QK_REF_DEVICE=cuda step 90 ctest --test-dir "$BUILD" -R "^$t\$" --output-on-failure || fail "$t on cuda"
  done
  step 90 python3 scripts/gpu_sweep_parity.py --qkgeom "$BUILD/qkgeom" --device cuda
  rc=$?  # 77: no h5py, safetensors or transformers here (said in the log)
  [ "$rc" = 0 ] || [ "$rc" = 77 ] || fail "gpu_sweep_parity"
fi

# -- 6. memcheck -----------------------------------------------------------------------
if [ "${SKIP_MEMCHECK:-0}" != 1 ]; then
  if command -v compute-sanitizer >/dev/null; then
    step 90 compute-sanitizer --tool memcheck --error-exitcode 3 --log-file "$RESULTS/memcheck.log" \
      "$PARITY" --gtest_filter="${MEMCHECK_FILTER:-*}" || fail "compute-sanitizer memcheck"
    [ -f "$RESULTS/memcheck.log" ] && tail -n 20 "$RESULTS/memcheck.log" | tee -a "$LOG"
  else
    log "compute-sanitizer not found: memcheck skipped"
  fi
fi

# -- 7. the runtime on CUDA vs HF eager on the GPU ----------------------------------------
if [ "$mode" = full ] && [ -x "$BUILD/qkgeom" ]; then
  step 90 python3 scripts/gpu_hf_parity.py --qkgeom "$BUILD/qkgeom" --dtypes f32,bf16 || fail "gpu_hf_parity"
fi

# -- 8. benchmarks and their targets -------------------------------------------------------
# Prints "TARGET ok|MISSED: what (value vs bound)" from a benchmark's JSON; fails a miss.
target() {
  local line
  line=$(python3 -c "$1" 2>&1) || line="MISSED: $2 (no value: ${line:0:200})"
  log "TARGET $line"
  grep -q "^ok" <<<"$line" || fail "target: $2"
}
if [ "${SKIP_BENCH:-0}" != 1 ] && [ "$mode" = full ]; then
  BENCH=$(bin bench_bo)
  if [ -n "$BENCH" ] && step 90 "$BENCH" --benchmark_filter='^bo/.*/cuda/' --benchmark_min_time=0.2s \
    --benchmark_out="$RESULTS/bench_bo_gpu.json" --benchmark_out_format=json; then
    target "import json
b=[x for x in json.load(open('$RESULTS/bench_bo_gpu.json'))['benchmarks'] if '8192' in x['name']]
ms=max(x['real_time']*{'ns':1e-6,'us':1e-3,'ms':1,'s':1e3}[x['time_unit']] for x in b)
print(('ok' if ms<5 else 'MISSED')+f': BO metrics Qwen3-4B shape S=8192 {ms:.2f} ms (< 5 ms)')" "BO metrics S=8192"
  else
    fail "bench_bo"
  fi
  if [ -x "$BUILD/qkgeom" ]; then
    step 120 python3 bench/side_by_side/bench_static_side_by_side.py --layers 36 --device cuda --baseline-heads 64 \
      --qkgeom "$BUILD/qkgeom" --json-out "$RESULTS/static_side_by_side_gpu.json" \
      --markdown-out "$RESULTS/static_side_by_side_gpu.md" || fail "static benchmark"
    target "import json
t=json.load(open('$RESULTS/static_side_by_side_gpu.json'))['ours']['timing']
s=t['spectra_s']+t['gram_s']
print(('ok' if s<2 else 'MISSED')+f': static pass Qwen3-4B shape {s:.2f} s without the disk read (< 2 s)')" "static pass"
    step 150 python3 bench/side_by_side/bench_sweep_side_by_side.py --layers 36 --probes 16 --seqs 512 \
      --dtype bf16 --device cuda --qkgeom "$BUILD/qkgeom" --json-out "$RESULTS/sweep_side_by_side_gpu.json" \
      --markdown-out "$RESULTS/sweep_side_by_side_gpu.md" || fail "sweep benchmark"
    target "import json
r=json.load(open('$RESULTS/sweep_side_by_side_gpu.json'))['rows'][0]
io=r['qkgeom_analysis_share']+r['qkgeom_write_wait_share']
ok=r['ratio_probes_per_s']>=5 and r['qkgeom_roofline']>=0.5 and io<0.1
print(('ok' if ok else 'MISSED')+f\": sweep S=512 {r['ratio_probes_per_s']:.2f}x the HF baseline (>= 5x), \"
      f\"{r['qkgeom_roofline']:.0%} of the bf16 roofline (>= 50%), analysis + I/O {io:.1%} (< 10%)\")" "sweep"
  fi
elif [ "$mode" != full ]; then
  log "benchmarks skipped: configure mode $mode has no bench_bo"
fi

log "== gpu_check done $(date -u +%Y-%m-%dT%H:%M:%SZ) after $((SECONDS - T0)) s, status $status"
exit "$status"
