#!/usr/bin/env bash
# Passes the tests: installs missing system libraries (scripts/bootstrap.sh), builds the
# package and its tests, runs `swift test`, runs the core tests again under each kernel variant
# the CPU supports (TESSERA_ISA=baseline|avx2|avx512), builds the DocC documentation of every
# library target (warnings fail it), runs the multi-process checks of TesseraDistributed under
# mpirun (scripts/distributed-checks.sh, about 80 s: 30 s of it the watchdog of the stopped-rank
# check, 40 s tessera train --distributed on 1, 2 and 3 ranks, faults, stops and resumes), then
# builds every package under Examples/ with Open MPI hidden
# (scripts/without-mpi.sh: they must not need it) and runs the examples that check themselves.
# Stops at the first failure with a non-zero status.
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
run_examples=(GradientDemo CustomOptimizer)

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

bin_path="$(swift build --show-bin-path ${scratch_args[@]+"${scratch_args[@]}"})"
# The core tests once more under each kernel variant this CPU runs (TESSERA_ISA; `tessera info`
# exits 2 for a variant the CPU lacks), so every op's tests run on every variant, beside
# KernelVariantTests' comparisons with the baseline.
for isa in baseline avx2 avx512; do
    if TESSERA_ISA="$isa" "$bin_path/tessera" info >/dev/null 2>&1; then
        step "core tests under TESSERA_ISA=$isa"
        logged "test-$isa" env TESSERA_ISA="$isa" TESSERA_TEST_ISA="$isa" swift test --skip-build ${scratch_args[@]+"${scratch_args[@]}"} --filter 'TesseraTests\.'
    else
        echo "test.sh: this CPU does not run the $isa kernels; their tests are skipped"
    fi
done

# The DocC catalog of every library product, with its symbol documentation: any warning (an
# unresolved ``link``, an undocumented parameter) fails the step.
doc_targets=()
for target in Tessera TesseraNN TesseraModels TesseraVision TesseraTraining TesseraDistributed; do
    doc_targets+=(--target "$target")
done
step "documentation (DocC, warnings are errors)"
logged docs swift package ${scratch_args[@]+"${scratch_args[@]}"} generate-documentation "${doc_targets[@]}" --warnings-as-errors

step "distributed checks (mpirun)"
logged distributed scripts/distributed-checks.sh "$bin_path/DistributedChecks" "$logs"

if scripts/without-mpi.sh pkg-config --exists ompi-c; then
    echo "test.sh: FAILED: scripts/without-mpi.sh does not hide Open MPI's pkg-config file" >&2
    exit 1
fi
shopt -s nullglob
for manifest in Examples/*/Package.swift; do
    dir="$(dirname "$manifest")"
    name="$(basename "$dir")"
    example_args=()
    if [[ -n "${SCRATCH_PATH:-}" ]]; then example_args=(--scratch-path "$scratch/examples/$name"); fi
    step "build example $name (Open MPI hidden)"
    logged "example-$name-build" scripts/without-mpi.sh swift build --package-path "$dir" ${example_args[@]+"${example_args[@]}"}
    example_bin="$(swift build --show-bin-path --package-path "$dir" ${example_args[@]+"${example_args[@]}"})"
    if [[ -x "$example_bin/$name" ]] && command -v ldd >/dev/null 2>&1 && ldd "$example_bin/$name" | grep -q libmpi; then
        echo "test.sh: FAILED: example $name links libmpi" >&2
        exit 1
    fi
    for r in "${run_examples[@]}"; do
        if [[ "$r" == "$name" ]]; then
            step "run example $name"
            logged "example-$name-run" swift run --skip-build --package-path "$dir" ${example_args[@]+"${example_args[@]}"}
        fi
    done
done

echo
echo "test.sh: all steps passed (logs in $logs)"
