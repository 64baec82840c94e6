#!/usr/bin/env bash
# Fuzzes the input readers (fuzz/, docs/testing.md "Fuzzing") with libFuzzer, ASan and UBSan.
#   scripts/fuzz.sh [HARNESS...]      each harness (default: all) for FUZZ_SECONDS (default 20),
#                                     libFuzzer seed FUZZ_SEED (default 1)
# Configures and builds build-fuzz with clang (-DQKGEOM_FUZZ=ON, no libtorch, no CUDA), then
# runs each harness from its seed corpus fuzz/corpus/<name>/ (new inputs go to
# build-fuzz/corpus/<name>/, never into the repository). Fails on any crash, hang (an input
# taking over FUZZ_TIMEOUT s), leak or use of over 2 GB; the input is kept in
# build-fuzz/artifacts/<name>/. Long runs: FUZZ_SECONDS=3600 scripts/fuzz.sh tokenizer
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/sanitizer_common.sh
source scripts/sanitizer_common.sh

BUILD=${FUZZ_BUILD:-build-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-20}
TIMEOUT=${FUZZ_TIMEOUT:-5}
ALL=(safetensors hf_config tokenizer probe_line snapshot_hdf5 results_store)
HARNESSES=("$@")
[ ${#HARNESSES[@]} -gt 0 ] || HARNESSES=("${ALL[@]}")

CC=clang CXX=clang++ configure_once "$BUILD" -DQKGEOM_FUZZ=ON -DQKGEOM_BUILD_TESTS=OFF
cmake --build "$BUILD" -j "$(nproc)" --target "${HARNESSES[@]/#/fuzz_}"

# Leaks inside libhdf5's own error paths are not ours (fuzz/lsan.supp); any other leak fails.
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/fuzz/lsan.supp}
# An allocation no machine can serve (petabytes, from a corrupt size in libhdf5) fails as in a
# release build, where the reader reports it; one that could succeed (> 2 GB) is a finding.
export ASAN_OPTIONS=${ASAN_OPTIONS:-allocator_may_return_null=1}
# One harness for SECONDS_EACH, from its corpora; a failing input lands in $BUILD/artifacts/H/.
run_harness() {
  local h=$1 runs
  local work="$BUILD/corpus/$h" art="$BUILD/artifacts/$h" log="$BUILD/fuzz_$h.log"
  mkdir -p "$work" "$art"
  echo "fuzz: $h for ${SECONDS_EACH}s"
  if "$BUILD/fuzz/fuzz_$h" -seed="${FUZZ_SEED:-1}" -max_total_time="$SECONDS_EACH" -timeout="$TIMEOUT" \
       -rss_limit_mb=2048 -malloc_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$art/" "$work" "fuzz/corpus/$h" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz: $h ok, $runs executions, $(ls "$work" | wc -l) new corpus inputs"
  else
    echo "fuzz: $h FAILED (log $log, input in $art/):"
    grep -E "ERROR|SUMMARY|Test unit written" "$log" | head -n 5 || true
    return 1
  fi
}
RUN_EACH_NOUN=harnesses run_each fuzz run_harness "${HARNESSES[@]}"
