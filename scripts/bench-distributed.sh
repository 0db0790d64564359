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

np=2
case "${1:-}" in
    -np|--np) [[ $# -ge 2 ]] || { echo "bench-distributed: -np needs a value" >&2; exit 2; }; np="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
mpi_prepare "$np"
scripts/bootstrap.sh >/dev/null
swift build -c release --product bench
exec "${MPIRUN[@]}" --bind-to none .build/release/bench --distributed "$@"
