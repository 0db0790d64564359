#!/usr/bin/env bash
# Data-parallel training on this host: K ranks of `tessera train --distributed` under mpirun,
# each training on its share of every batch, gradients averaged over the ranks.
#
#   scripts/train-distributed.sh -np 2 --model resnet20 --epochs 30 --out runs/resnet20-dp2
#   scripts/train-distributed.sh -np 2 --resume runs/resnet20-dp2      continue it (same K)
#   scripts/train-distributed.sh -np 4 --dry-run --model mlp            print the command, run nothing
#   scripts/train-distributed.sh -np 2 --binary .build/debug/tessera …  that executable, no build
#
# -np K (default 2) comes first; every other option goes to `tessera train --distributed` (see
# `tessera train --help`; --batch-size is the global batch, a multiple of K). The mpirun options
# this environment needs (root, oversubscription, shared-memory transport) are set by
# scripts/mpi-common.sh. TESSERA_DIST_TIMEOUT (seconds, default 30) bounds how long a rank
# waits for a dead or hung peer before failing.
#
# Stopping: Ctrl-C, SIGTERM or SIGHUP to this script is passed to every rank as SIGUSR1 (which
# mpirun forwards); the ranks agree on the step, rank 0 saves the run, and the script exits with
# 128 + the signal it got; --resume continues bit for bit. A second Ctrl-C stops mpirun at once.
# mpirun runs in a process group of its own, so a Ctrl-C at the terminal reaches this script
# only: mpirun itself answers SIGINT/SIGTERM by its kill sequence (SIGCONT, SIGTERM after
# odls_base_sigkill_timeout = 1 s, SIGKILL after 1 s more), too short for a rank to save. That
# timeout is not lengthened: mpirun waits it out twice whenever a rank exits non-zero, even when
# every rank has exited (measured: 9 s after the exits at 5 s), which an interrupted run does.
# Without this script, `kill -USR1 <mpirun's pid>` stops a run the same way.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/mpi-common.sh

mpi_take_np "$@"
set -- ${MPI_ARGS[@]+"${MPI_ARGS[@]}"}
dry_run=0
binary=""
args=()
while (($#)); do
    case "$1" in
        --dry-run) dry_run=1 ;;
        --binary) [[ $# -ge 2 ]] || { echo "train-distributed: --binary needs a path" >&2; exit 2; }; binary="$2"; shift ;;
        *) args+=("$1") ;;
    esac
    shift
done

mpi_prepare "$np"
command=("${MPIRUN[@]}" "${binary:-.build/release/tessera}" train --distributed ${args[@]+"${args[@]}"})
if ((dry_run)); then
    env | grep -E '^OMPI_(ALLOW|MCA)' | sort || true
    printf '%q ' "${command[@]}"; echo
    exit 0
fi
if [[ -z "$binary" ]]; then
    scripts/bootstrap.sh
    swift build -c release --product tessera
fi

# mpirun in the background and in its own process group (job control on), so that this shell
# alone gets the terminal's signals and can pass them on while it waits; stdin from /dev/null, as
# a background group reading the terminal would be stopped.
set -m
"${command[@]}" </dev/null &
pid=$!
stop=""
forward() {
    if [[ -n "$stop" && "$1" == INT ]]; then
        echo "train-distributed: second interrupt: stopping mpirun now" >&2
        kill -INT "$pid" 2>/dev/null || true
    elif [[ -z "$stop" ]]; then
        stop="$1"
        echo "train-distributed: SIG$1: asking the ranks to stop and save (SIGUSR1)" >&2
        kill -USR1 "$pid" 2>/dev/null || true
    fi
}
trap 'forward INT' INT
trap 'forward TERM' TERM
trap 'forward HUP' HUP
rc=0
while true; do
    set +e
    wait "$pid"
    rc=$?
    set -e
    # A trapped signal ends `wait` early: wait again until mpirun itself has exited.
    kill -0 "$pid" 2>/dev/null || break
done
if [[ -n "$stop" && "$rc" -ne 0 ]]; then
    exit $((128 + $(kill -l "$stop")))
fi
exit "$rc"
