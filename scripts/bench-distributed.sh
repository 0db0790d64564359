#!/usr/bin/env bash
# Data-parallel training beside one process on this host (docs/BENCHMARKS.md):
#
#   scripts/bench-distributed.sh [-np K] [--quick] [--filter resnet20] [--json FILE]
#
# runs `mpirun -np K --bind-to none bench --distributed …` (K default 2) on a release build: per
# model, one process with every core's threads beside K ranks with cores / K threads each, the
# communication a step does not hide, and the gradient buckets' allreduce beside a plain
# MPI_Allreduce loop. The ranks are not bound to cores, so that the one-process variant (rank 0
# alone, the others waiting) can use every core.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/mpi-common.sh

mpi_take_np "$@"
set -- ${MPI_ARGS[@]+"${MPI_ARGS[@]}"}
mpi_prepare "$np"
scripts/bootstrap.sh >/dev/null
swift build -c release --product bench
exec "${MPIRUN[@]}" --bind-to none .build/release/bench --distributed "$@"
