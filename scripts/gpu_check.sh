#!/usr/bin/env bash
# GPU checks of qkgeom (issue 16), for a CUDA machine (an H200 with 16 cores here: nvcc,
# cmake, ninja, python3 with torch and transformers, no network, no apt). Budget: about
# 8 minutes in all (BUDGET_S), so that the device's 15 minutes fit a rerun.
# Usage: scripts/gpu_check.sh [RESULTS_DIR]   (default bench/results; on the device tool's
# machine pass "$OUT", so that the log of a run cut short still comes back)
#
#  0. without a GPU (no nvidia-smi, or it lists none): says so and exits 0, nothing run;
#  1. records the machine: date, nvidia-smi, nvcc, cmake, git revision;
#  2. unpacks carried Debian packages (.carry/debs, made by scripts/gpu_carry.sh on a
#     machine with Debian's archive) into .carry/root, keeping only the runtime
#     libraries this machine lacks;
#  3. configures the project with CUDA (tests and benchmarks on); if that fails,
#     without libtorch, then also without benchmarks;
#  4. the most informative checks first: builds test_layer_analysis and test_gpu_parity,
#     then starts building every other target in the background while it runs
#       a. the layer-by-layer analysis on the device (test_layer_analysis, filter
#          FIRST_FILTER: the batched feed, the device analysis, torch's stream and finite
#          flags),
#       b. the same under compute-sanitizer --tool memcheck,
#       c. every kernel family's CPU/GPU parity (test_gpu_parity: head Gram, position
#          cosine, magnitude entropy, layer alignment, K-V CKA, attention statistics,
#          static Gram, simplex volumes), then under memcheck (MEMCHECK_FILTER);
#  5. the CUDA libraries linked (tests/tools/check_cuda_library_set.py): cuBLAS, cuBLASLt,
#     cuSOLVER, cuSPARSE and nvJitLink of qkgeom-engine and two test binaries from one
#     folder, libtorch_cuda's; a mix of the toolkit's and the torch wheel's fails;
#  6. the GPU cases of the other suites (attention statistics, static pass with cuSOLVER,
#     RoPE geometry, simplex, model runtime and packed batches on CUDA), then `weights`
#     (cuSOLVER), the sweep's packed vs lone batches (f32) and rope-geometry through the
#     CLI with --device cuda (reference tests), and the whole sweep on the device against
#     the CPU (scripts/gpu_sweep_parity.py: f32, bf16 by default, soft-cap, multi-head BO,
#     non-finite reports);
#  7. the model runtime on CUDA against HF eager on the GPU, f32 and bf16
#     (scripts/gpu_hf_parity.py);
#  8. the benchmarks with their targets, the most important first: the sweep (>= 5x the
#     HF baseline, >= 50% of the bf16 roofline, analysis + I/O < 10%; and the writer's
#     busy time against the prefill of a --save-kv k run), bench_bo's CUDA cases at
#     S = 8192 (target: BO metrics of the Qwen3-4B shape on device-resident K < 5 ms,
#     kernels/Qwen3-4B/S:8192/cuda/k; the end-to-end bo/ cases, upload included, and
#     each kernel family with its bytes, FLOPs and lower bound as information), the
#     static pass (< 2 s), then the Gemma shapes of bench_bo (information); each verdict
#     is a TARGET line in the log.
# With SKIP_TESTS=1 only steps 1-3, the build of qkgeom and bench_bo, 5, 8 and then 7 run
# (the benchmarks before the HF parity): configure ~20 s, the build ~10 s warm or ~30-60 s
# on a fresh machine (111 objects took 27 s with 16 jobs), then 150 + 45 + 60 + 45 s of
# benchmark timeouts (typically ~90 + ~15 + ~30 + ~20 s) and the parity (36 s): BUDGET_S=330
# completes every benchmark in a typical run (~270 s in all); 360 covers a fresh build
# with the three targets' steps at their timeouts (the rest is then cut or skipped).
# Every command and its output go to RESULTS_DIR/gpu_check.log as they run (memcheck's
# too), the benchmarks' JSON and Markdown beside it: at most 6 files. Each step runs under
# its own timeout, capped by what is left of the budget, and is skipped when the budget is
# spent (said in the log); an interrupted run logs where it stopped. The exit status is
# non-zero when a build, a test, memcheck, the library check or a target failed.
#
# Environment: BUILD (build dir, default build-gpu), CUDA_ARCH (default 90), JOBS,
# BUDGET_S (default 480), FIRST_FILTER (gtest filter of step 4a), MEMCHECK_FILTER (gtest
# filter of test_gpu_parity under memcheck, default all), SKIP_MEMCHECK=1, SKIP_BENCH=1,
# SKIP_TESTS=1 (only the benchmarks and then the HF parity of step 7),
# DRY_RUN=1 (runs nothing, needs no GPU: prints every step with its timeout and the sum of
# the timeouts, to check the order and the budget).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
REPO=$(pwd)

DRY=${DRY_RUN:-0}
RESULTS=${1:-bench/results}
BUILD=${BUILD:-build-gpu}
CUDA_ARCH=${CUDA_ARCH:-90}
JOBS=${JOBS:-$(nproc)}
LOG=/dev/null
if [ "$DRY" != 1 ]; then
  mkdir -p "$RESULTS"
  RESULTS=$(cd "$RESULTS" && pwd)
  LOG=$RESULTS/gpu_check.log
fi
FIRST_FILTER=${FIRST_FILTER:-'BatchFeed.*:*Device*:TorchView.*'}
status=0

log() { echo "$*" | tee -a "$LOG"; }
# Runs a command, echoing it and its output into the log; returns its status. A dry run
# only echoes it.
run() {
  log "+ $*"
  [ "$DRY" = 1 ] && return 0
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
WORST=0  # a dry run: the sum of the steps' timeouts
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
  WORST=$((WORST + want))
  if [ "$DRY" = 1 ]; then
    log "[step: timeout ${want} s; ${WORST} s if every step so far ran to its timeout]"
    run "$@"
    return 0
  fi
  local t=$SECONDS rc
  run timeout --kill-after=10 "$((want < l ? want : l))" "$@"
  rc=$?
  log "[step took $((SECONDS - t)) s of its ${want} s, exit ${rc}; $((SECONDS - T0)) s in all]"
  return "$rc"
}
rest_pid=""  # the background build of step 4
# shellcheck disable=SC2317  # called by the trap
interrupted() {
  [ -n "$rest_pid" ] && kill "$rest_pid" 2>/dev/null
  log "== gpu_check interrupted after $((SECONDS - T0)) s (signal); status so far $status"
  exit 130
}
trap interrupted INT TERM

# -- 0. a GPU? -------------------------------------------------------------------------
gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true)
if [ "$DRY" = 1 ]; then
  log "== gpu_check dry run: nothing is run; budget ${BUDGET_S} s, JOBS=$JOBS, BUILD=$BUILD"
elif [ "${gpus:-0}" -eq 0 ]; then
  why="nvidia-smi not found"
  command -v nvidia-smi >/dev/null && why="nvidia-smi lists no GPU ($(nvidia-smi -L 2>&1 | head -n 1))"
  # The log of the last GPU run stays as it is.
  echo "gpu_check: no GPU on $(hostname): $why; nothing was run (run this on the GPU machine," \
    "or DRY_RUN=1 for the plan)" >&2
  exit 0
else
  : >"$LOG"
fi

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
if [ "$DRY" = 1 ]; then
  log "(dry run) carried packages: .carry/debs would be unpacked into .carry/root"
elif [ -d "$CARRY/debs" ] && ls "$CARRY"/debs/*.deb >/dev/null 2>&1; then
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
  [ "$DRY" = 1 ] || rm -rf "$BUILD/CMakeCache.txt" "$BUILD/CMakeFiles"
  # shellcheck disable=SC2086  # opts is a list of words
  if step 120 cmake -S "$src" -B "$BUILD" "${GEN[@]}" "${COMMON[@]}" $opts; then
    mode=$name
    break
  fi
done
log "configure mode: ${mode:-none}"
if [ -z "$mode" ]; then
  fail "no configuration succeeded (see above; scripts/gpu_carry.sh lists what to carry)"
  exit 1
fi

# The targets of this configuration among $@ (a dry run: all of them).
known=$([ "$DRY" = 1 ] || cmake --build "$BUILD" --target help 2>/dev/null)
present() {
  for t in "$@"; do
    # Ninja's help omits a target whose output has its name (build/qkgeom): build.ninja has it.
    if [ "$DRY" = 1 ] || grep -q "^$t:" <<<"$known" || grep -q "^build $t:" "$BUILD/build.ninja" 2>/dev/null; then
      echo "$t"
    fi
  done
}
bin() {
  local p
  p=$(find "$BUILD" -type f -name "$1" -perm -u+x 2>/dev/null | head -n 1)
  [ -z "$p" ] && [ "$DRY" = 1 ] && p=$BUILD/$1
  echo "$p"
}
# Runs test binary $1 with gtest filter $2 under a timeout of $3 s; fails unless it passes.
gtest() {
  [ "${SKIP_TESTS:-0}" = 1 ] && return 0
  local b
  b=$(bin "$1")
  if [ -z "$b" ]; then
    log "$1: not built (configure mode $mode, or its build failed above)"
    return 0
  fi
  step "$3" "$b" --gtest_filter="$2" || fail "$1 ($2)"
}
# Runs test binary $1 with gtest filter $2 under compute-sanitizer memcheck ($3 s); its
# report goes to the log. A machine whose sanitizer refuses the device (gVisor) is said.
memcheck() {
  [ "${SKIP_TESTS:-0}" = 1 ] && return 0
  local b
  b=$(bin "$1")
  [ -n "$b" ] || return 0
  if [ "${SKIP_MEMCHECK:-0}" = 1 ]; then
    log "memcheck of $1 skipped (SKIP_MEMCHECK=1)"
    return 0
  fi
  if [ "$DRY" != 1 ] && ! command -v compute-sanitizer >/dev/null; then
    log "memcheck of $1 skipped: compute-sanitizer not found"
    return 0
  fi
  local from
  from=$(wc -l <"$LOG" 2>/dev/null || echo 0)
  step "$3" compute-sanitizer --tool memcheck --error-exitcode 3 "$b" --gtest_filter="$2" && return 0
  if tail -n +"$((from + 1))" "$LOG" | grep -q "Device not supported"; then
    log "memcheck of $1: UNAVAILABLE here (compute-sanitizer does not support this device or runtime)"
  else
    fail "compute-sanitizer memcheck of $1 ($2)"
  fi
}

# -- 4. the first checks, while the other targets build in the background -------------------
FIRST=$(present test_layer_analysis test_gpu_parity)
[ "${SKIP_TESTS:-0}" = 1 ] && FIRST=""
# shellcheck disable=SC2086  # one target per word
if [ -n "$FIRST" ] && ! step 240 cmake --build "$BUILD" -j "$JOBS" --target $FIRST; then
  fail "building $(tr '\n' ' ' <<<"$FIRST")"
fi
REST=$(present qkgeom qkgeom_engine test_attention_stats test_static_gpu test_rope_gpu test_simplex \
  test_model_runtime test_packed_batch bench_bo)
[ "${SKIP_TESTS:-0}" = 1 ] && REST=$(present qkgeom qkgeom_engine bench_bo)
REST_LOG=$BUILD/gpu_check_rest_build.log
if [ "$DRY" = 1 ]; then
  log "+ (background, budget ${BUDGET_S} s) cmake --build $BUILD -j $JOBS --target $(tr '\n' ' ' <<<"$REST")"
elif [ "$(left)" -lt 20 ]; then
  log "SKIPPED (budget of ${BUDGET_S} s spent): building $(tr '\n' ' ' <<<"$REST")"
else
  # shellcheck disable=SC2086  # one target per word
  timeout --kill-after=10 "$(left)" nice cmake --build "$BUILD" -j "$JOBS" --target $REST >"$REST_LOG" 2>&1 &
  rest_pid=$!
fi
gtest test_layer_analysis "$FIRST_FILTER" 120
memcheck test_layer_analysis "$FIRST_FILTER" 150
gtest test_gpu_parity '*' 60
memcheck test_gpu_parity "${MEMCHECK_FILTER:-*}" 120
if [ -n "$rest_pid" ]; then
  log "waiting for the background build of $(tr '\n' ' ' <<<"$REST")"
  wait "$rest_pid" || fail "building the other targets (log below)"
  rest_pid=""
  tail -n 30 "$REST_LOG" | tee -a "$LOG"
fi

# -- 5. CUDA libraries: one consistent set -------------------------------------------
ENGINE=$(bin qkgeom-engine)
if [ -n "$ENGINE" ] || [ "$DRY" = 1 ]; then
  # One folder for cuBLAS, cuBLASLt, cuSOLVER, cuSPARSE, nvJitLink, and libtorch_cuda's one
  # (the ctest cuda_library_set runs the same check).
  # shellcheck disable=SC2046  # one binary per word
  run python3 tests/tools/check_cuda_library_set.py "${ENGINE:-$BUILD/qkgeom-engine}" \
    $(bin test_static_gpu) $(bin test_layer_analysis) || fail "CUDA libraries: not one set (above)"
else
  log "qkgeom-engine not built (configure mode $mode): library check skipped"
fi

# -- 6. the GPU cases of the other suites, the CLI on cuda ----------------------------------
declare -A FILTER=([test_model_runtime]='*Cuda*:*BatchBitwise*' [test_packed_batch]='*Cuda*')
for t in test_attention_stats test_static_gpu test_rope_gpu test_simplex test_model_runtime test_packed_batch; do
  gtest "$t" "${FILTER[$t]:-*}" 60
done
if [ "$mode" = full ] && { [ "$DRY" = 1 ] || [ -x "$BUILD/qkgeom" ]; }; then
  for t in ref_static_weights ref_sweep_batch_mode ref_rope_geometry; do
    [ "${SKIP_TESTS:-0}" = 1 ] && break
    QK_REF_DEVICE=cuda step 90 ctest --test-dir "$BUILD" -R "^$t\$" --output-on-failure || fail "$t on cuda"
  done
  [ "${SKIP_TESTS:-0}" = 1 ] || step 90 python3 scripts/gpu_sweep_parity.py --qkgeom "$BUILD/qkgeom" --device cuda
  rc=$?  # 77: no h5py, safetensors or transformers here (said in the log)
  [ "$rc" = 0 ] || [ "$rc" = 77 ] || fail "gpu_sweep_parity"
fi

# -- 7. the runtime on CUDA vs HF eager on the GPU ----------------------------------------
hf_parity() {
  if [ "$mode" = full ] && { [ "$DRY" = 1 ] || [ -x "$BUILD/qkgeom" ]; }; then
    step 90 python3 scripts/gpu_hf_parity.py --qkgeom "$BUILD/qkgeom" --dtypes f32,bf16 || fail "gpu_hf_parity"
  fi
}

# -- 8. benchmarks and their targets, the most important first -----------------------------
# Prints "TARGET ok|MISSED: what (value vs bound)" from a benchmark's JSON; fails a miss.
target() {
  local line
  if [ "$DRY" = 1 ]; then
    log "TARGET (dry run): $2"
    return 0
  fi
  line=$(python3 -c "$1" 2>&1) || line="MISSED: $2 (no value: ${line:0:200})"
  log "TARGET $line"
  grep -q "^ok" <<<"$line" || fail "target: $2"
}
# a. The sweep, Qwen3-4B shape bf16, 16 probes of 512 tokens: probes/s against the HF
#    baseline (run on 2 probes: its numpy BO takes ~15 s a probe; its time scaled to 16),
#    the bf16 roofline, analysis + I/O, and (information) the writer's busy time against
#    the prefill time of a --save-kv k run.
bench_sweep() {
  step 150 python3 bench/side_by_side/bench_sweep_side_by_side.py --layers 36 --probes 16 --baseline-probes 2 \
    --seqs 512 --dtype bf16 --device cuda --save-kv k --qkgeom "$BUILD/qkgeom" \
    --json-out "$RESULTS/sweep_side_by_side_gpu.json" --markdown-out "$RESULTS/sweep_side_by_side_gpu.md" ||
    fail "sweep benchmark"
  target "import json
r=json.load(open('$RESULTS/sweep_side_by_side_gpu.json'))['rows'][0]
io=r['qkgeom_analysis_share']+r['qkgeom_write_wait_share']
ok=r['ratio_probes_per_s_scaled']>=5 and r['qkgeom_roofline']>=0.5 and io<0.1
k=r.get('save_kv') or {}
w=f\"; --save-kv k: writer busy {k['write_busy_s']:.3f} s vs prefill {k['prefill_s']:.3f} s, wait {k['write_wait_s']:.3f} s\" if k else ''
print(('ok' if ok else 'MISSED')+f\": sweep S={r['S']} {r['ratio_probes_per_s_scaled']:.2f}x the HF baseline (>= 5x; \"
      f\"{r['ratio_probes_per_s']:.2f}x against its {r['baseline_probes']} probes unscaled), \"
      f\"{r['qkgeom_roofline']:.0%} of the bf16 roofline (>= 50%), analysis + I/O {io:.1%} (< 10%)\"+w)" "sweep"
}
# b. bench_bo at S = 8192 on CUDA, the Qwen3-4B shape (the Gemma shapes in d): end to
#    end (bo/, the host->device upload included) and device-resident (kernels/: the
#    default plan; kernel/<family>/: each family with its least bytes and FLOPs,
#    docs/benchmarks.md "Cost model"). The target is judged on
#    kernels/Qwen3-4B/S:8192/cuda/k: the sweep feeds device tensors.
bench_bo_gpu() {
  local bench json=$RESULTS/bench_bo_gpu.json
  bench=$(bin bench_bo)
  [ -n "$bench" ] || { fail "bench_bo not built"; return; }
  step 45 "$bench" --benchmark_filter='^(bo|kernels)/Qwen3-4B/S:8192/cuda/|^kernel/[a-z_]+/Qwen3-4B/S:8192/' \
    --benchmark_min_time=0.2 --benchmark_out="$json" --benchmark_out_format=json || fail "bench_bo"
  [ "$DRY" = 1 ] || run python3 bench/side_by_side/bo_kernel_report.py "$json" || true
  target "import json
b={x['name']:x for x in json.load(open('$json'))['benchmarks']}
def ms(n):
    x=b[n+'/real_time']
    return x['real_time']*{'ns':1e-6,'us':1e-3,'ms':1,'s':1e3}[x['time_unit']]
c='Qwen3-4B/S:8192/cuda/'
k,kv=ms('kernels/'+c+'k'),ms('kernels/'+c+'kv')
lb=b['kernels/'+c+'k/real_time']['bound_ms']
print(('ok' if k<5 else 'MISSED')+f': BO metrics Qwen3-4B shape S=8192, device-resident K {k:.2f} ms (< 5 ms; '
      f'lower bound {lb:.2f} ms); information: K+V {kv:.2f} ms, end to end with the host upload K '
      f\"{ms('bo/'+c+'k'):.1f} ms, K+V {ms('bo/'+c+'kv'):.1f} ms\")" "BO metrics S=8192"
}
# d. The Gemma shapes of b (position-wise mode), information only: in the log, no JSON.
bench_bo_gemma() {
  local bench
  bench=$(bin bench_bo)
  [ -n "$bench" ] || return 0
  step 45 "$bench" --benchmark_filter='^(bo|kernels)/Gemma[^/]+/S:8192/cuda/|^kernel/[a-z_]+/Gemma3-4B/S:8192/' \
    --benchmark_min_time=0.2 || fail "bench_bo (Gemma shapes)"
}
# c. The static pass, Qwen3-4B shape, 36 layers; the baseline timed on 4 heads.
bench_static() {
  step 60 python3 bench/side_by_side/bench_static_side_by_side.py --layers 36 --device cuda --baseline-heads 4 \
    --qkgeom "$BUILD/qkgeom" --json-out "$RESULTS/static_side_by_side_gpu.json" \
    --markdown-out "$RESULTS/static_side_by_side_gpu.md" || fail "static benchmark"
  target "import json
r=json.load(open('$RESULTS/static_side_by_side_gpu.json'))
t=r['ours']['timing']
s=t['spectra_s']+t['gram_s']
print(('ok' if s<2 else 'MISSED')+f\": static pass Qwen3-4B shape {s:.2f} s without the disk read (< 2 s); \"
      f\"{r['ratio_fp64']:.0f}x the fp64 svdvals baseline\")" "static pass"
}
benchmarks() {
  if [ "${SKIP_BENCH:-0}" = 1 ]; then
    log "benchmarks skipped (SKIP_BENCH=1)"
  elif [ "$mode" != full ] || { [ "$DRY" != 1 ] && [ ! -x "$BUILD/qkgeom" ]; }; then
    log "benchmarks skipped: configure mode $mode, or qkgeom not built"
  else
    bench_sweep
    bench_bo_gpu
    bench_static
    bench_bo_gemma
  fi
}

# With SKIP_TESTS=1 the benchmarks go first and the HF parity last.
if [ "${SKIP_TESTS:-0}" = 1 ]; then
  benchmarks
  hf_parity
else
  hf_parity
  benchmarks
fi

[ "$DRY" = 1 ] && log "dry run: ${WORST} s if every step ran to its timeout (each is capped by what is left of the ${BUDGET_S} s)"
log "== gpu_check done $(date -u +%Y-%m-%dT%H:%M:%SZ) after $((SECONDS - T0)) s, status $status"
exit "$status"
