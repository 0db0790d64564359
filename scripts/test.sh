#!/usr/bin/env bash
# Passes the tests: installs missing system libraries (scripts/bootstrap.sh), builds the
# package and its tests, runs `swift test`, then builds every package under Examples/ and runs
# the examples that check themselves. Stops at the first failure with a non-zero status.
#
#   scripts/test.sh                     everything
#   scripts/test.sh --filter LinalgTests   extra arguments go to `swift test`
#
# Output of each step is kept in $SCRATCH_PATH/test-logs (default .build/test-logs).
# SCRATCH_PATH (optional) is passed to SwiftPM as --scratch-path, e.g. SCRATCH_PATH=.build-ci.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"

# Examples that are run (not only built) by this script; each exits non-zero when its check fails.
run_examples=(GradientDemo)

scratch="${SCRATCH_PATH:-.build}"
[[ "$scratch" == /* ]] || scratch="$root/$scratch"
scratch_args=()
if [[ -n "${SCRATCH_PATH:-}" ]]; then scratch_args=(--scratch-path "$scratch"); fi
logs="$scratch/test-logs"
mkdir -p "$logs"

step() { echo; echo "==> $*"; }

# Runs a command, showing its output and keeping it in $logs/$1.log; fails when the command fails.
logged() {
    local name="$1"; shift
    echo "\$ $*"
    if ! "$@" 2>&1 | tee "$logs/$name.log"; then
        echo "test.sh: FAILED: $* (output kept in $logs/$name.log)" >&2
        exit 1
    fi
}

step "bootstrap"
scripts/bootstrap.sh

if [[ "$(uname -s)" == Darwin ]] && command -v brew >/dev/null 2>&1; then
    # openblas, lapack and jpeg-turbo are keg-only in Homebrew: pkg-config must be told where they are.
    export PKG_CONFIG_PATH="$(brew --prefix openblas)/lib/pkgconfig:$(brew --prefix lapack)/lib/pkgconfig:$(brew --prefix jpeg-turbo)/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
fi

step "build (with tests)"
logged build swift build --build-tests ${scratch_args[@]+"${scratch_args[@]}"}

step "swift test"
logged test swift test --skip-build ${scratch_args[@]+"${scratch_args[@]}"} "$@"

shopt -s nullglob
for manifest in Examples/*/Package.swift; do
    dir="$(dirname "$manifest")"
    name="$(basename "$dir")"
    example_args=()
    if [[ -n "${SCRATCH_PATH:-}" ]]; then example_args=(--scratch-path "$scratch/examples/$name"); fi
    step "build example $name"
    logged "example-$name-build" swift build --package-path "$dir" ${example_args[@]+"${example_args[@]}"}
    for r in "${run_examples[@]}"; do
        if [[ "$r" == "$name" ]]; then
            step "run example $name"
            logged "example-$name-run" swift run --skip-build --package-path "$dir" ${example_args[@]+"${example_args[@]}"}
        fi
    done
done

echo
echo "test.sh: all steps passed (logs in $logs)"
