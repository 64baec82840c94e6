#!/usr/bin/env bash
# Installs what qkgeom needs to build, test and benchmark, skipping what is present.
# Debian packages: toolchain, HDF5, JSON, CLI, GoogleTest, Google Benchmark, OpenBLAS,
# Go (to run the seed's own Go code as a test reference), OpenSSL (SHA-256 of provenance),
# Open MPI (sweeps under mpirun), clang with its libFuzzer/sanitizer runtimes and OpenMP
# (`make fuzz`), Chromium (renders `qkgeom report`'s page headless in its test).
# PyPI packages: the independent references of the tests (numpy, h5py, safetensors,
# ml_dtypes) and torch (its libtorch is the model runtime's; see docs/dependencies.md).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(build-essential cmake ninja-build pkg-config git
  libhdf5-dev nlohmann-json3-dev libcli11-dev googletest libgtest-dev libgmock-dev
  libbenchmark-dev libopenblas-dev golang-go libpcre2-dev libicu-dev libssl-dev
  libopenmpi-dev openmpi-bin
  clang libclang-rt-dev libomp-dev clang-format clang-tidy
  chromium)
PIP_REQUIREMENTS=scripts/requirements.txt

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "deps: Debian packages present"
fi

PY=${PYTHON:-python3}
if ! $PY scripts/check_requirements.py "$PIP_REQUIREMENTS" >/dev/null 2>&1; then
  echo "deps: installing PyPI packages from $PIP_REQUIREMENTS"
  $PY -m pip install -q --disable-pip-version-check -r "$PIP_REQUIREMENTS"
else
  echo "deps: PyPI packages present"
fi
