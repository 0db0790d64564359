#!/usr/bin/env bash
# The multi-process checks of TesseraDistributed, each an mpirun job of the DistributedChecks
# executable (scripts/test.sh runs this after `swift test`):
#
#   - equivalence (K ranks with batch B/K = 1 process with batch B after 20 SGD steps), the
#     reducer's rules, every collective, sampler and evaluation sharding: on 1, 2 and 3 ranks;
#   - a mismatched configuration is refused at start, naming the rank and the field;
#   - faults: a rank killed with SIGKILL, and a rank stopped with SIGSTOP (the default 30 s
#     watchdog): the job must end non-zero within the timeout, the dead or silent rank named;
#   - two hosts in network namespaces over TCP (scripts/two-host-check.sh; root on Linux only,
#     reported as skipped otherwise).
#
#   scripts/distributed-checks.sh BINARY [LOG_DIR]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/mpi-common.sh

bin="${1:?usage: scripts/distributed-checks.sh BINARY [LOG_DIR]}"
logs="${2:-$(mktemp -d)}"
mkdir -p "$logs"
[[ -x "$bin" ]] || { echo "distributed-checks: no executable at $bin" >&2; exit 1; }

fail() { echo "distributed-checks: FAILED: $*" >&2; exit 1; }
# seconds since the epoch with a fraction (BSD date has no %N)
now() {
    local t
    t="$(date +%s.%N)"
    [[ "$t" != *N ]] || t="$(perl -MTime::HiRes=time -e 'printf "%.3f", time')"
    echo "$t"
}
# at most $1 seconds of the command (coreutils timeout where there is one)
limited() { if command -v timeout >/dev/null 2>&1; then timeout "$@"; else shift; "$@"; fi; }
# seconds between two `date +%s.%N` / unix-time stamps
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
at_most() { awk -v x="$1" -v y="$2" 'BEGIN { exit !(x <= y) }'; }
# whether pid $1 is still a live (not zombie) DistributedChecks process
still_running() {
    local s
    s="$(ps -o stat=,args= -p "$1" 2>/dev/null)" || return 1
    [[ -n "$s" && "$s" != Z* && "$s" == *DistributedChecks* ]]
}

# mpirun_job NAME K ARGS...: runs the job (output shown and kept in $logs/distributed-NAME.log),
# leaves its exit status in $rc.
mpirun_job() {
    local name="$1" np="$2"
    shift 2
    mpi_prepare "$np"
    log="$logs/distributed-$name.log"
    echo "\$ ${MPIRUN[*]} $(basename "$bin") $*"
    set +e
    limited 300 "${MPIRUN[@]}" "$bin" "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    set -e
}

checks=(hosts equivalence reducer-rules collectives sharding)
for np in 1 2 3; do
    start="$(now)"
    mpirun_job "checks-np$np" "$np" "${checks[@]}"
    ((rc == 0)) || fail "the checks on $np rank(s) exited with status $rc (log: $log)"
    echo "distributed-checks: $np rank(s) passed in $(elapsed "$start" "$(now)") s"
done

mpirun_job mismatch 3 mismatch
((rc != 0)) || fail "a mismatched configuration was accepted"
for r in 0 1 2; do
    grep -q "^rank $r: mismatch FAILED .*training configuration differs between ranks: batchSize: 64 (ranks 0, 1) vs 32 (rank 2)" "$log" ||
        fail "rank $r did not refuse the mismatched configuration with the expected message"
done
echo "distributed-checks: the mismatched configuration was refused on every rank"

# fault SIGNAL LIMIT: rank 0 sends SIGNAL to rank 2 mid-run; the job must end non-zero within
# LIMIT seconds of it, with rank 2 named and nothing left running.
fault() {
    local signal="$1" limit="$2" check
    check="fault-$(echo "$signal" | tr '[:upper:]' '[:lower:]' | sed 's/^sig//')"
    mpirun_job "$check" 3 "$check"
    local end; end="$(now)"
    ((rc != 0)) || fail "$check: the job exited with status 0"
    local line sent pid
    line="$(grep -m1 "sending $signal to rank 2" "$log")" || fail "$check: the fault was never injected"
    sent="${line##*unix time }"
    pid="$(echo "$line" | sed -n 's/.*(pid \([0-9]*\)).*/\1/p')"
    # mpirun may return while its SIGTERM'd child is still exiting (or a zombie nobody reaped yet).
    local waited=0
    while still_running "$pid" && ((waited < 50)); do sleep 0.1; waited=$((waited + 1)); done
    if still_running "$pid"; then
        kill -9 "$pid" 2>/dev/null || true
        fail "$check: rank 2 (pid $pid) was still running 5 s after mpirun returned"
    fi
    local took; took="$(elapsed "$sent" "$end")"
    at_most "$took" "$limit" || fail "$check: the job ended $took s after the fault, more than $limit s"
    echo "distributed-checks: $check: job ended with status $rc $took s after the fault"
    # A survivor reports rank 2 itself when its watchdog fires first; when mpirun stops the job
    # first (it does at once when a rank dies), mpirun's own message names rank 2 and each
    # survivor prints a SIGTERM note, unless mpirun has stopped forwarding its output already.
    local named=0
    for r in 0 1; do
        if grep -q "^rank $r: $check FAILED at unix time .*rank 2 did not answer" "$log"; then
            named=1
            local t; t="$(grep -m1 "^rank $r: $check FAILED" "$log" | sed 's/.*unix time \([0-9.]*\):.*/\1/')"
            echo "distributed-checks: $check: rank $r named rank 2 $(elapsed "$sent" "$t") s after the fault"
        elif grep -q "tessera: rank $r: terminated by SIGTERM from the launcher" "$log"; then
            echo "distributed-checks: $check: rank $r was stopped by mpirun"
        fi
    done
    if [[ "$signal" == SIGKILL ]]; then
        grep -q "process rank 2 .* exited on signal 9" "$log" || ((named)) || fail "$check: nobody named rank 2"
    else
        ((named)) || fail "$check: no surviving rank named rank 2"
    fi
}
fault SIGKILL 30
timeout_s="$(awk -v t="${TESSERA_DIST_TIMEOUT:-30}" 'BEGIN { print t + 3 }')"
fault SIGSTOP "$timeout_s"

set +e
scripts/two-host-check.sh "$bin" >"$logs/distributed-two-host.log" 2>&1
rc=$?
set -e
cat "$logs/distributed-two-host.log"
case "$rc" in
    0) ;;
    77) echo "distributed-checks: two-host check SKIPPED (see above)" ;;
    *) fail "the two-host check failed (log: $logs/distributed-two-host.log)" ;;
esac
echo "distributed-checks: all passed"
