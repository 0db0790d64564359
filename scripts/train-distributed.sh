#!/usr/bin/env bash
# Data-parallel training on this host: K ranks of `tessera train --distributed` under mpirun,
# each training on its share of every batch, gradients averaged over the ranks.
#
#   scripts/train-distributed.sh -np 2 --model resnet20 --epochs 30 --out runs/resnet20-dp2
#   scripts/train-distributed.sh -np 4 --dry-run --model mlp     print the command, run nothing
#
# -np K (default 2) comes first; every other option goes to `tessera train --distributed` (see
# `tessera train --help`). The mpirun options this environment needs (root, oversubscription,
# shared-memory transport) are set by scripts/mpi-common.sh. TESSERA_DIST_TIMEOUT (seconds,
# default 30) bounds how long a rank waits for a dead or hung peer before failing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/mpi-common.sh

np=2
case "${1:-}" in
    -np|--np) [[ $# -ge 2 ]] || { echo "train-distributed: -np needs a value" >&2; exit 2; }; np="$2"; shift 2 ;;
    -np=*|--np=*) np="${1#*=}"; shift ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
dry_run=0
args=()
for a in "$@"; do
    if [[ "$a" == --dry-run ]]; then dry_run=1; else args+=("$a"); fi
done

mpi_prepare "$np"
command=("${MPIRUN[@]}" .build/release/tessera train --distributed ${args[@]+"${args[@]}"})
if ((dry_run)); then
    env | grep -E '^OMPI_(ALLOW|MCA)' | sort || true
    printf '%q ' "${command[@]}"; echo
    exit 0
fi
scripts/bootstrap.sh
swift build -c release --product tessera
exec "${command[@]}"
