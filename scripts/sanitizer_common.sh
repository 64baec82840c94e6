# shellcheck shell=bash
# Sourced by scripts/asan.sh and scripts/fuzz.sh: what both do around their own runs.

# configure_once BUILD [CMAKE_ARG...]: configures BUILD (Ninja, RelWithDebInfo, no libtorch,
# no CUDA, no benchmarks, plus the arguments) unless it is configured already.
configure_once() {
  local build=$1
  shift
  [ -f "$build/build.ninja" ] && return 0
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DQKGEOM_WITH_TORCH=OFF -DQKGEOM_ENABLE_CUDA=OFF -DQKGEOM_BUILD_BENCH=OFF "$@"
}

# run_each TAG RUN ITEM...: `RUN item` for every item (RUN prints its own ok or failure lines
# and returns nonzero on failure), then "TAG: failed: ..." and exit 1 when any failed, else
# "TAG: all N NOUN clean" with NOUN from $RUN_EACH_NOUN.
run_each() {
  local tag=$1 run=$2 item
  shift 2
  local failed=()
  for item in "$@"; do
    "$run" "$item" || failed+=("$item")
  done
  if [ ${#failed[@]} -gt 0 ]; then
    echo "$tag: failed: ${failed[*]}"
    exit 1
  fi
  echo "$tag: all $# ${RUN_EACH_NOUN:-runs} clean"
}
