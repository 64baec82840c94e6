#!/usr/bin/env bash
# GPU checks of qkgeom, for a CUDA machine (an H100 here: nvcc, cmake, ninja, no
# network, no apt). Usage: scripts/gpu_check.sh [RESULTS_DIR]   (default bench/results)
#
#  1. records the machine: date, nvidia-smi, nvcc, cmake, git revision;
#  2. unpacks carried Debian packages (.carry/debs, made by scripts/gpu_carry.sh on a
#     machine with Debian's archive) into .carry/root, keeping only the runtime
#     libraries this machine lacks;
#  3. configures the full project with CUDA (tests and benchmarks on); if that fails,
#     without libtorch, then also without benchmarks;
#  4. builds and runs test_gpu_parity (JUnit XML beside the logs), then the other suites
#     with GPU cases (attention statistics, static pass, simplex volumes, and with libtorch
#     the model runtime on CUDA and the sweep / static reference tests with --device cuda);
#  5. runs test_gpu_parity under compute-sanitizer --tool memcheck;
#  6. builds and runs bench_bo's CUDA benchmarks when the full build has them, and with
#     libtorch the sweep and static-pass side-by-side benchmarks on the GPU (issue 4 and 5
#     targets).
# Every command and its output go to RESULTS_DIR/gpu_check.log; the exit status is
# non-zero when a build, the parity test or memcheck failed.
#
# Environment: BUILD (build dir, default build-gpu), CUDA_ARCH (default 90), JOBS,
# MEMCHECK_FILTER (gtest filter under memcheck, default *), BENCH_FILTER (default cuda),
# SKIP_MEMCHECK=1, SKIP_BENCH=1.
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
: >"$LOG"
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

log "== qkgeom gpu_check $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
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

# -- 4. build and run the parity test --------------------------------------------------
if ! run cmake --build "$BUILD" --target test_gpu_parity -j "$JOBS"; then
  fail "building test_gpu_parity"
  exit 1
fi
PARITY=$(find "$BUILD" -type f -name test_gpu_parity -perm -u+x | head -n 1)
log "test binary: $PARITY"
run "$PARITY" --gtest_output="xml:$RESULTS/test_gpu_parity.xml" || fail "test_gpu_parity"

# The other suites with GPU cases (each skips what its build lacks).
for t in test_attention_stats test_static_gpu test_simplex test_model_runtime test_packed_batch; do
  if run cmake --build "$BUILD" --target "$t" -j "$JOBS"; then
    bin=$(find "$BUILD" -type f -name "$t" -perm -u+x | head -n 1)
    run "$bin" --gtest_output="xml:$RESULTS/$t.xml" || fail "$t"
  else
    log "$t: not in this configuration"
  fi
done
if [ "$mode" = full ] && run cmake --build "$BUILD" --target qkgeom -j "$JOBS"; then
  for t in ref_sweep ref_sweep_batch_mode ref_static_weights ref_rope_geometry ref_score_model; do
    QK_REF_DEVICE=cuda run ctest --test-dir "$BUILD" -R "^$t\$" --output-on-failure || fail "$t on cuda"
  done
fi

# -- 5. memcheck -----------------------------------------------------------------------
if [ "${SKIP_MEMCHECK:-0}" != 1 ]; then
  if command -v compute-sanitizer >/dev/null; then
    run compute-sanitizer --tool memcheck --error-exitcode 3 \
      --log-file "$RESULTS/memcheck.log" \
      "$PARITY" --gtest_filter="${MEMCHECK_FILTER:-*}" || fail "compute-sanitizer memcheck"
    [ -f "$RESULTS/memcheck.log" ] && tail -n 20 "$RESULTS/memcheck.log" | tee -a "$LOG"
  else
    log "compute-sanitizer not found: memcheck skipped"
  fi
fi

# -- 6. benchmarks ---------------------------------------------------------------------
if [ "${SKIP_BENCH:-0}" != 1 ] && [ "$mode" = full ]; then
  if run cmake --build "$BUILD" --target bench_bo -j "$JOBS"; then
    BENCH=$(find "$BUILD" -type f -name bench_bo -perm -u+x | head -n 1)
    run "$BENCH" --benchmark_filter="${BENCH_FILTER:-cuda}" \
      --benchmark_out="$RESULTS/bench_bo_gpu.json" --benchmark_out_format=json ||
      fail "bench_bo"
  else
    fail "building bench_bo"
  fi
  if [ -x "$BUILD/qkgeom" ] && "$BUILD/qkgeom" env | grep -q "libtorch: 2"; then
    run python3 bench/side_by_side/bench_sweep_side_by_side.py --layers 36 --probes 16 --seqs 128,512 \
      --dtype bf16 --device cuda --qkgeom "$BUILD/qkgeom" \
      --json-out "$RESULTS/sweep_side_by_side_gpu.json" \
      --markdown-out "$RESULTS/sweep_side_by_side_gpu.md" || fail "sweep benchmark"
    run python3 bench/side_by_side/bench_static_side_by_side.py --layers 36 --device cuda --baseline-heads 64 \
      --qkgeom "$BUILD/qkgeom" \
      --json-out "$RESULTS/static_side_by_side_gpu.json" \
      --markdown-out "$RESULTS/static_side_by_side_gpu.md" || fail "static benchmark"
  fi
elif [ "$mode" != full ]; then
  log "benchmarks skipped: configure mode $mode has no bench_bo"
fi

log "== gpu_check done $(date -u +%Y-%m-%dT%H:%M:%SZ), status $status"
exit "$status"
