#!/usr/bin/env bash
# Builds the seed's own Go code (shared/seeds/lem-attention.go, never copied into
# this repo) into a binary that prints its BOResult, Composite() and
# AttentionFeatures() as JSON. See tests/reference/seed_go/README.md.
#
#   run_seed.sh [--shared DIR] OUT_BINARY
#
# DIR defaults to $QK_SHARED_DIR, else ../shared beside the repository root.
# Exit 77 when go or the seed is absent.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
shared="${QK_SHARED_DIR:-$repo/../shared}"
if [[ "${1:-}" == "--shared" ]]; then
  shared="$2"
  shift 2
fi
if [[ $# -ne 1 ]]; then
  echo "usage: run_seed.sh [--shared DIR] OUT_BINARY" >&2
  exit 2
fi
out="$1"
seed="$shared/seeds/lem-attention.go"

if ! command -v go >/dev/null 2>&1; then
  echo "run_seed.sh: go not found" >&2
  exit 77
fi
if [[ ! -f "$seed" ]]; then
  echo "run_seed.sh: seed not found: $seed" >&2
  exit 77
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/qkseed.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/mod/lem" "$work/mod/inference" "$work/gopath" "$work/cache"
cp "$here/src/main.go" "$work/mod/main.go"
cp "$here/src/inference/inference.go" "$work/mod/inference/"
cp "$here/src/lem/minmax.go" "$work/mod/lem/"
printf 'module qkseed\n\ngo 1.18\n' >"$work/mod/go.mod"

# The file starts with text scraped from a web page; the Go begins at this comment.
awk '/^\/\/ Q\/K Bone Orientation/ {on = 1} on' "$seed" |
  sed 's#"forge.lthn.ai/core/go-inference"#inference "qkseed/inference"#' \
    >"$work/mod/lem/attention.go"
if ! grep -q '^package lem' "$work/mod/lem/attention.go" ||
   ! grep -q '"qkseed/inference"' "$work/mod/lem/attention.go"; then
  echo "run_seed.sh: $seed does not have the expected layout" >&2
  exit 1
fi

mkdir -p "$(dirname "$out")"
(cd "$work/mod" &&
  GOFLAGS=-mod=mod GOPROXY=off GO111MODULE=on GOPATH="$work/gopath" \
    GOCACHE="$work/cache" CGO_ENABLED=0 go build -o "$work/seed_bo" .)
mv -f "$work/seed_bo" "$out"
