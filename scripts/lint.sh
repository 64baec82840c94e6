#!/usr/bin/env bash
# Style and static checks (CI runs it after `make test`; `make lint` runs it alone):
#   1. clang-format (.clang-format) on every tracked C, C++ and CUDA file: no diff allowed;
#   2. ruff (ruff.toml) on the Python of scripts/, tests/, bench/ and fuzz/;
#   3. clang-tidy (.clang-tidy: no function body over 60 lines) on
#      every C++ file of BUILD/compile_commands.json under host/, io/, tests/, bench/.
#   scripts/lint.sh [BUILD]     (default build; the build must be configured)
# Exits 1 naming each file that fails. Fix formatting with: clang-format -i FILE.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
fail=0

mapfile -t cfiles < <(git ls-files '*.c' '*.h' '*.cpp' '*.hpp' '*.cu' '*.cuh')
echo "lint: clang-format on ${#cfiles[@]} files"
if ! clang-format --dry-run --Werror "${cfiles[@]}" 2>/tmp/qk-lint-format.$$; then
  grep -o '^[^:]*:' /tmp/qk-lint-format.$$ | sort -u | sed 's/:$/: not formatted (clang-format -i)/'
  fail=1
fi
rm -f /tmp/qk-lint-format.$$

echo "lint: ruff"
ruff check --quiet . || fail=1

if [ ! -f "$BUILD/compile_commands.json" ]; then
  echo "lint: $BUILD/compile_commands.json is missing: configure first (make configure)" >&2
  exit 1
fi
echo "lint: clang-tidy ($(nproc) jobs)"
if ! run-clang-tidy -p "$BUILD" -j "$(nproc)" -quiet \
    '^(?!.*\.cu$).*/(host|io|tests|bench)/' >"$BUILD/clang-tidy.log" 2>&1; then
  grep -E 'error:' "$BUILD/clang-tidy.log" | sort -u
  fail=1
fi
[ "$fail" -eq 0 ] && echo "lint: clean"
exit "$fail"
