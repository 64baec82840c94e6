#!/usr/bin/env bash
# Gathers into .carry/debs the Debian packages that scripts/gpu_check.sh needs on a
# GPU machine without network or apt (run here, where Debian's archive is reachable):
#   build:   GoogleTest, Google Benchmark, nlohmann-json, CLI11, HDF5, OpenBLAS, PCRE2 and ICU
#            development files, pkgconf;
#   runtime: the shared libraries those link against, with their library closure
#            minus the base system (libc, libgcc, libstdc++, zlib).
# gpu_check.sh unpacks them with `dpkg -x` into .carry/root and drops any runtime
# library the machine already has. .carry/ is git-ignored: name it in the GPU run's
# carry list. Usage: scripts/gpu_carry.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DEST=.carry/debs
DEV=(libgtest-dev libbenchmark-dev nlohmann-json3-dev libcli11-dev libhdf5-dev libpcre2-dev libicu-dev
  libopenblas-dev libopenblas-pthread-dev libssl-dev)
RUNTIME_ROOTS=(libhdf5-103-1 libopenblas0-pthread libbenchmark1debian libpcre2-8-0 libicu72 libssl3 pkgconf)
BASE='^(libc6|libgcc-s1|libstdc\+\+6|gcc-[0-9]+-base|zlib1g)$'

runtime=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
  --no-breaks --no-replaces --no-enhances --no-pre-depends "${RUNTIME_ROOTS[@]}" |
  grep -v '^[ <]' | sort -u | grep -Ev "$BASE")
if [ -z "$runtime" ]; then
  echo "gpu_carry: apt-cache knows none of ${RUNTIME_ROOTS[*]}: run 'apt-get update' first" >&2
  exit 1
fi

rm -rf "$DEST"
mkdir -p "$DEST"
# shellcheck disable=SC2086  # one package name per word
(cd "$DEST" && apt-get download -q "${DEV[@]}" $runtime)
echo "gpu_carry: $(find "$DEST" -name "*.deb" | wc -l) packages, $(du -sh "$DEST" | cut -f1) in $DEST"
