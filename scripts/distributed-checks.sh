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
#     reported as skipped otherwise);
#   - `tessera train --distributed` (the tessera executable beside BINARY), on a tiny image
#     folder: 2 and 3 ranks end within 1e-5 of one process after 20 SGD steps, with rank 0 alone
#     writing; a batch that K does not divide and ranks configured differently are refused; a
#     killed or stopped rank is named within the timeout; a run stopped through
#     scripts/train-distributed.sh (SIGTERM to it, SIGUSR1 to the ranks) and one stopped by a
#     SIGTERM to one rank, then resumed, end bit for bit as the uninterrupted run.
#
#   scripts/distributed-checks.sh BINARY [LOG_DIR [GROUP...]]
#
# GROUPs (default: all): ranks, mismatch, faults, trainer, two-host.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/mpi-common.sh

bin="${1:?usage: scripts/distributed-checks.sh BINARY [LOG_DIR [GROUP...]]}"
logs="${2:-$(mktemp -d)}"
groups=("${@:3}")
((${#groups[@]})) || groups=(ranks mismatch faults trainer two-host)
mkdir -p "$logs"
[[ -x "$bin" ]] || { echo "distributed-checks: no executable at $bin" >&2; exit 1; }
wanted() { [[ " ${groups[*]} " == *" $1 "* ]]; }

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
mpirun_job() { mpirun_program "$1" "$2" "$bin" "${@:3}"; }

# mpirun_program NAME K PROGRAM ARGS...: mpirun_job for any program.
mpirun_program() {
    local name="$1" np="$2"
    shift 2
    mpi_prepare "$np"
    log="$logs/distributed-$name.log"
    echo "\$ ${MPIRUN[*]} $(basename "$1") ${*:2}"
    set +e
    limited 300 "${MPIRUN[@]}" "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    set -e
}

checks=(hosts equivalence reducer-rules collectives sharding)
wanted ranks && for np in 1 2 3; do
    start="$(now)"
    mpirun_job "checks-np$np" "$np" "${checks[@]}"
    ((rc == 0)) || fail "the checks on $np rank(s) exited with status $rc (log: $log)"
    echo "distributed-checks: $np rank(s) passed in $(elapsed "$start" "$(now)") s"
done

if wanted mismatch; then
    mpirun_job mismatch 3 mismatch
    ((rc != 0)) || fail "a mismatched configuration was accepted"
    for r in 0 1 2; do
        grep -q "^rank $r: mismatch FAILED .*training configuration differs between ranks: batchSize: 64 (ranks 0, 1) vs 32 (rank 2)" "$log" ||
            fail "rank $r did not refuse the mismatched configuration with the expected message"
    done
    echo "distributed-checks: the mismatched configuration was refused on every rank"
fi

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
if wanted faults; then
    fault SIGKILL 30
    timeout_s="$(awk -v t="${TESSERA_DIST_TIMEOUT:-30}" 'BEGIN { print t + 3 }')"
    fault SIGSTOP "$timeout_s"
fi

if wanted trainer; then
# ---- tessera train --distributed ----------------------------------------------------------

tessera="$(dirname "$bin")/tessera"
[[ -x "$tessera" ]] || fail "no tessera executable beside $bin"
trainer_start="$(now)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$bin" make-images "$work/data" --classes 4 --train 60 --test 25 --size 16 >/dev/null     # 240 / 100 images
"$bin" make-images "$work/more" --classes 4 --train 120 --test 25 --size 16 >/dev/null    # 480 / 100
# 240 images in batches of 24, 2 epochs: 20 SGD steps (momentum 0.9, weight decay 5e-4), with
# random crops and flips (the same on K ranks as in one process).
small=(--model mlp --data "$work/data" --batch-size 24 --epochs 2 --lr 0.05 --schedule constant --threads 1)
# metrics.jsonl without its timings, which differ from run to run
figures() { sed -e 's/"images_per_sec":[^,]*,//' -e 's/"seconds":[^,]*,//' "$1/metrics.jsonl"; }
# field NAME FILE: the value of "NAME" in the last line of a metrics.jsonl
field() { tail -1 "$2" | sed "s/.*\"$1\":\([^,}]*\).*/\1/"; }
close() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; s = b < 0 ? -b : b; exit !(d <= t * s) }'; }

echo "\$ $(basename "$tessera") train ${small[*]} --out one"
"$tessera" train "${small[@]}" --out "$work/one" >"$logs/distributed-trainer-one.log" 2>&1 ||
    fail "the single-process run failed (log: $logs/distributed-trainer-one.log)"
for np in 2 3; do
    mpirun_program "trainer-np$np" "$np" "$tessera" train --distributed "${small[@]}" --out "$work/np$np" >/dev/null
    ((rc == 0)) || fail "tessera train --distributed on $np ranks exited with status $rc (log: $log)"
    "$bin" compare "$work/one/last.safetensors" "$work/np$np/last.safetensors" --tolerance 1e-5 ||
        fail "$np ranks did not end within 1e-5 of one process"
    [[ "$(grep -c '^epoch 2/2  train loss' "$log")" == 1 && "$(wc -l <"$work/np$np/metrics.jsonl" | tr -d ' ')" == 2 ]] ||
        fail "$np ranks: expected one summary line per epoch (rank 0 only) and 2 lines of metrics.jsonl"
    for f in train_loss test_loss test_acc; do
        close "$(field "$f" "$work/np$np/metrics.jsonl")" "$(field "$f" "$work/one/metrics.jsonl")" 1e-4 ||
            fail "$np ranks: $f $(field "$f" "$work/np$np/metrics.jsonl") is not the single process's $(field "$f" "$work/one/metrics.jsonl")"
    done
    echo "distributed-checks: trainer: $np ranks x batch $((24 / np)) = 1 process x batch 24 after 20 steps (within 1e-5; the same metrics)"
done
# The same over TCP between two network namespaces ("hosts").
set +e
scripts/two-host-check.sh --command "$tessera" train --distributed "${small[@]}" --out "$work/hosts" >"$logs/distributed-trainer-two-host.log" 2>&1
rc=$?
set -e
case "$rc" in
    0) "$bin" compare "$work/one/last.safetensors" "$work/hosts/last.safetensors" --tolerance 1e-5 ||
           fail "2 ranks on two hosts did not end within 1e-5 of one process"
       echo "distributed-checks: trainer: the same on two hosts over TCP ($(tail -1 "$logs/distributed-trainer-two-host.log" | sed 's/^two-host-check: //'))" ;;
    77) echo "distributed-checks: trainer on two hosts SKIPPED ($(grep -m1 SKIPPED "$logs/distributed-trainer-two-host.log"))" ;;
    *) fail "tessera train --distributed on two hosts failed (log: $logs/distributed-trainer-two-host.log)" ;;
esac

mpirun_program trainer-batch 2 "$tessera" train --distributed "${small[@]}" --batch-size 25 --out "$work/bad" >/dev/null
((rc != 0)) || fail "a global batch of 25 on 2 ranks was accepted"
for r in 0 1; do
    grep -q "^rank $r: error: --batch-size 25 is the global batch and must be a multiple of the 2 processes" "$log" ||
        fail "rank $r did not refuse --batch-size 25 with the expected message"
done
mpi_prepare 2
log="$logs/distributed-trainer-mismatch.log"
set +e
limited 120 "${MPIRUN[0]}" "${MPIRUN[@]:3}" -np 1 "$tessera" train --distributed "${small[@]}" --out "$work/mismatch" \
    : -np 1 "$tessera" train --distributed "${small[@]}" --batch-size 12 --subset 200 --out "$work/mismatch" >"$log" 2>&1
rc=$?
set -e
((rc != 0)) || fail "ranks with different batches and data were accepted"
for r in 0 1; do
    grep "^rank $r: error: training run differs between ranks" "$log" | grep "config.batchSize: 24 (rank 0) vs 12 (rank 1)" |
        grep -q "trainSamples: 240 (rank 0) vs 200 (rank 1)" || fail "rank $r did not refuse the mismatched run naming batch and data"
done
echo "distributed-checks: trainer: a batch 2 ranks do not divide, and ranks with other batches and data, are refused"

# rank_pid JOB_PID RANK: the pid of that rank's tessera among the processes below the job
# (Linux: the rank is in each process's environment).
descendants() { local c; for c in $(pgrep -P "$1" || true); do echo "$c"; descendants "$c"; done; }
rank_pid() {
    local p
    for p in $(descendants "$1"); do
        [[ "$(cat "/proc/$p/comm" 2>/dev/null)" == tessera ]] || continue
        if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2"; then echo "$p"; return 0; fi
    done
    return 1
}
# wait_for_metrics DIR: until the run in DIR has finished its first epoch (at most 60 s).
wait_for_metrics() {
    local waited=0
    until [[ -s "$1/metrics.jsonl" ]] || ((waited >= 600)); do sleep 0.1; waited=$((waited + 1)); done
    [[ -s "$1/metrics.jsonl" ]] || fail "the run in $1 did not finish an epoch within 60 s"
}
long=(--model mlp --data "$work/more" --batch-size 24 --epochs 4 --lr 0.05 --threads 1 --no-augment)

if [[ -d /proc/self ]]; then
    # trainer_fault SIGNAL LIMIT TIMEOUT: rank 1 gets SIGNAL after the first epoch; the job must end
    # non-zero within LIMIT s, rank 1 named (by rank 0's watchdog, or by mpirun for a killed rank).
    trainer_fault() {
        local signal="$1" limit="$2" name
        name="trainer-fault-$(echo "$signal" | tr '[:upper:]' '[:lower:]' | sed 's/^sig//')"
        mpi_prepare 2
        log="$logs/distributed-$name.log"
        rm -rf "$work/fault"
        TESSERA_DIST_TIMEOUT="$3" limited 120 "${MPIRUN[@]}" "$tessera" train --distributed "${long[@]}" --epochs 50 \
            --out "$work/fault" >"$log" 2>&1 &
        local job=$!
        wait_for_metrics "$work/fault"
        local victim; victim="$(rank_pid "$job" 1)" || fail "$name: rank 1's process not found"
        local sent; sent="$(now)"
        kill -s "${signal#SIG}" "$victim"
        set +e; wait "$job"; rc=$?; set -e
        local took; took="$(elapsed "$sent" "$(now)")"
        kill -9 "$victim" 2>/dev/null || true
        ((rc != 0)) || fail "$name: the job exited with status 0"
        at_most "$took" "$limit" || fail "$name: the job ended $took s after the fault, more than $limit s"
        if grep -q "rank 0: error: .*rank 1 did not answer" "$log"; then
            echo "distributed-checks: $name: rank 0 named rank 1; the job ended with status $rc $took s after the fault"
        elif [[ "$signal" == SIGKILL ]] && grep -q "process rank 1 .* exited on signal 9" "$log"; then
            echo "distributed-checks: $name: mpirun named rank 1 and stopped the job (status $rc) $took s after the fault"
        else
            fail "$name: nobody named rank 1 (log: $log)"
        fi
    }
    trainer_fault SIGKILL 30 30
    trainer_fault SIGSTOP 15 5
else
    echo "distributed-checks: trainer faults SKIPPED (finding a rank's process needs /proc)"
fi

# The uninterrupted run, and two interrupted and resumed: through the script (SIGTERM to it, which
# sends SIGUSR1 to every rank) and by SIGTERM to rank 1 alone (the ranks agree to stop).
mpirun_program trainer-straight 2 "$tessera" train --distributed "${long[@]}" --out "$work/straight" >/dev/null
((rc == 0)) || fail "the uninterrupted 2-rank run failed (log: $log)"
log="$logs/distributed-trainer-script-stop.log"
scripts/train-distributed.sh -np 2 --binary "$tessera" "${long[@]}" --out "$work/script" >"$log" 2>&1 &
job=$!
wait_for_metrics "$work/script"
kill -TERM "$job"
set +e; wait "$job"; rc=$?; set -e
((rc == 143)) || fail "scripts/train-distributed.sh stopped by SIGTERM exited with status $rc, not 143 (log: $log)"
grep -q "^interrupted by SIGUSR1 at epoch [0-9]*, step [0-9]*; saved to" "$log" || fail "the stop through the script did not save the run (log: $log)"
stopped="$(grep -o 'at epoch [0-9]*, step [0-9]*' "$log" | head -1)"
if [[ -d /proc/self ]]; then
    mpi_prepare 2
    log="$logs/distributed-trainer-rank-stop.log"
    limited 120 "${MPIRUN[@]}" "$tessera" train --distributed "${long[@]}" --out "$work/rank" >"$log" 2>&1 &
    job=$!
    wait_for_metrics "$work/rank"
    kill -TERM "$(rank_pid "$job" 1)"
    set +e; wait "$job"; rc=$?; set -e
    ((rc != 0)) || fail "the run whose rank 1 got SIGTERM ended with status 0"
    grep -q "^interrupted by SIGTERM at epoch [0-9]*, step [0-9]*; saved to" "$log" || fail "rank 0 did not save when rank 1 got SIGTERM (log: $log)"
    stopped="$stopped; $(grep -o 'at epoch [0-9]*, step [0-9]*' "$log" | head -1)"
    resumed=(script rank)
else
    resumed=(script)
fi
for run in "${resumed[@]}"; do
    log="$logs/distributed-trainer-resume-$run.log"
    scripts/train-distributed.sh -np 2 --binary "$tessera" --resume "$work/$run" >"$log" 2>&1 ||
        fail "the resumed run ($run) failed (log: $log)"
    "$bin" compare "$work/straight/last.safetensors" "$work/$run/last.safetensors" --tolerance 0 ||
        fail "the run stopped ($run) and resumed is not the uninterrupted run bit for bit"
    [[ "$(figures "$work/$run")" == "$(figures "$work/straight")" ]] || fail "the metrics of the resumed run ($run) differ"
done
echo "distributed-checks: trainer: stopped ($stopped) and resumed = uninterrupted, bit for bit (weights, optimizer, metrics)"
echo "distributed-checks: trainer checks passed in $(elapsed "$trainer_start" "$(now)") s"

fi

if wanted two-host; then
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
fi
echo "distributed-checks: all passed (${groups[*]})"
