#!/usr/bin/env bash
# Two "hosts" on one machine: two network namespaces joined by a veth pair, one MPI rank in
# each, Open MPI's TCP transport restricted to the veth addresses, and no ssh — mpirun starts the
# remote daemon through a launcher agent that runs it inside the namespace owning the address.
# The namespaces hold nothing but their loopback and their end of the veth, so only those
# carry the job's traffic. Cleans up on exit.
#
#   scripts/two-host-check.sh BINARY [CHECK...]     BINARY: DistributedChecks; default checks:
#                                                   hosts equivalence collectives
#   scripts/two-host-check.sh --command PROGRAM [ARG...]   any MPI program instead, e.g.
#                                                   tessera train --distributed …
# Exit status 0: passed; 1: failed; 77: skipped (needs root on Linux with `ip netns`), with the reason.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/mpi-common.sh

usage="usage: scripts/two-host-check.sh BINARY [CHECK...] | --command PROGRAM [ARG...]"
command_mode=0
if [[ "${1:-}" == --command ]]; then
    command_mode=1
    shift
    bin="${1:?$usage}"
    shift
    checks=("$@")
else
    bin="${1:?$usage}"
    shift
    checks=("$@")
    ((${#checks[@]})) || checks=(hosts equivalence collectives)
fi
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

skip() { echo "two-host-check: SKIPPED: $*"; exit 77; }
[[ "$(uname -s)" == Linux ]] || skip "network namespaces need Linux"
[[ "$(id -u)" -eq 0 ]] || skip "creating network namespaces needs root"
command -v ip >/dev/null 2>&1 || skip "ip (iproute2) is not installed; scripts/bootstrap.sh installs it"

tag="$$"
ns=("tessera-h0-$tag" "tessera-h1-$tag")
dev=(tsh0 tsh1)
subnet=10.213.77.0/24
addr=(10.213.77.1 10.213.77.2)
work="$(mktemp -d)"
cleanup() {
    ip netns del "${ns[0]}" 2>/dev/null || true
    ip netns del "${ns[1]}" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "${ns[0]}" 2>/dev/null || skip "'ip netns add' is not permitted here"
ip netns add "${ns[1]}"
ip link add "${dev[0]}" netns "${ns[0]}" type veth peer name "${dev[1]}" netns "${ns[1]}"
for i in 0 1; do
    ip -n "${ns[$i]}" addr add "${addr[$i]}/24" dev "${dev[$i]}"
    ip -n "${ns[$i]}" link set lo up
    ip -n "${ns[$i]}" link set "${dev[$i]}" up
done

# mpirun calls the agent as `agent HOST COMMAND...`, like ssh: run COMMAND in HOST's namespace.
cat >"$work/agent" <<AGENT
#!/bin/sh
host="\$1"; shift
case "\$host" in
    ${addr[0]}) ns=${ns[0]} ;;
    ${addr[1]}) ns=${ns[1]} ;;
    *) echo "two-host agent: unknown host '\$host'" >&2; exit 1 ;;
esac
exec ip netns exec "\$ns" /bin/sh -c "\$*"
AGENT
chmod +x "$work/agent"
printf '%s slots=1\n%s slots=1\n' "${addr[0]}" "${addr[1]}" >"$work/hostfile"

bytes() { ip netns exec "${ns[0]}" cat "/sys/class/net/${dev[0]}/statistics/tx_bytes"; }
before="$(bytes)"
mpi_prepare 2
MPIRUN+=(--hostfile "$work/hostfile" --map-by node --mca plm_rsh_agent "$work/agent"
         --mca btl tcp,self --mca btl_tcp_if_include "$subnet" --mca oob_tcp_if_include "$subnet")
echo "two-host-check: ranks in namespaces ${ns[*]} at ${addr[*]} ($subnet over veth ${dev[*]})"
set +e
ip netns exec "${ns[0]}" timeout 120 "${MPIRUN[@]}" "$bin" "${checks[@]}" 2>&1 | tee "$work/log"
rc=${PIPESTATUS[0]}
set -e
after="$(bytes)"
((rc == 0)) || { echo "two-host-check: FAILED: mpirun exited with status $rc" >&2; exit 1; }

if ((!command_mode)) && [[ " ${checks[*]} " == *" hosts "* ]]; then
    for i in 0 1; do
        expected="$(ip netns exec "${ns[$i]}" readlink /proc/self/ns/net)"
        grep "^rank $i: " "$work/log" | grep -qF "network namespace $expected," ||
            { echo "two-host-check: FAILED: rank $i did not run in ${ns[$i]} ($expected)" >&2; exit 1; }
        grep "^rank $i: " "$work/log" | grep -qF "local rank 0 of 1" ||
            { echo "two-host-check: FAILED: rank $i does not see itself alone on its host" >&2; exit 1; }
    done
fi
sent=$((after - before))
((sent > 10000)) || { echo "two-host-check: FAILED: only $sent bytes crossed the veth pair" >&2; exit 1; }
echo "two-host-check: passed; $sent bytes left ${ns[0]} over ${dev[0]}"
