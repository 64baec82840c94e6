#!/usr/bin/env bash
# Builds the io-level GoogleTest unit tests (the readers of every input file) with
# AddressSanitizer and UndefinedBehaviorSanitizer (build-asan: g++, no libtorch, no CUDA)
# and runs each test binary; any sanitizer report fails the run (docs/testing.md,
# "Fuzzing"). The other libtorch-free suites (test_cpu_ops, test_bo_metrics,
# test_attention_stats, test_sweep_parts) take it past 15 minutes on 2 cores: name them.
#   scripts/asan.sh [TEST...]   default: the six io-level test binaries
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/sanitizer_common.sh
source scripts/sanitizer_common.sh

BUILD=${ASAN_BUILD:-build-asan}
ALL=(test_safetensors test_snapshot test_hf_config test_tokenizer test_probes test_results_store)
TESTS=("$@")
[ ${#TESTS[@]} -gt 0 ] || TESTS=("${ALL[@]}")
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"

configure_once "$BUILD" -DCMAKE_CXX_FLAGS="$SAN" -DCMAKE_C_FLAGS="$SAN" \
  -DCMAKE_EXE_LINKER_FLAGS="$SAN" -DCMAKE_SHARED_LINKER_FLAGS="$SAN"
cmake --build "$BUILD" -j "$(nproc)" --target "${TESTS[@]}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# One test binary, its log in $BUILD/TEST.log.
run_test() {
  local t=$1 log="$BUILD/$1.log" start
  start=$(date +%s)
  if (cd "$BUILD" && "tests/$t" >"$t.log" 2>&1); then
    echo "asan: $t ok ($(grep -Eo '[0-9]+ tests? from [0-9]+ test suites? ran' "$log" | head -n 1), $(($(date +%s) - start)) s)"
  else
    echo "asan: $t FAILED (log $log):"
    grep -E "ERROR: |runtime error|SUMMARY|FAILED  \]" "$log" | head -n 8 || true
    return 1
  fi
}
RUN_EACH_NOUN="test binaries" run_each asan run_test "${TESTS[@]}"
