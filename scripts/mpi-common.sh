# Sourced by the scripts that start MPI jobs on this host (train-distributed.sh,
# distributed-checks.sh, two-host-check.sh): what Open MPI's mpirun needs in this environment.
#
#   mpi_prepare K     exports the environment and sets the array MPIRUN to `mpirun -np K` plus
#                     the options K local ranks need here
#   mpi_take_np ARG...  sets np from a leading `-np K` or `-np=K` (default 2) and the array
#                     MPI_ARGS to the other arguments; a leading -h or --help prints the
#                     script's opening comment and exits
#
# - As root (containers, CI), Open MPI refuses to start unless OMPI_ALLOW_RUN_AS_ROOT and
#   OMPI_ALLOW_RUN_AS_ROOT_CONFIRM are set; they are set only when running as root.
# - mpirun places one rank per core and refuses more: --oversubscribe when K exceeds the cores
#   (physical cores, as Open MPI counts them, within this process's CPU set).
# - The shared-memory transport's single-copy mode (Linux CMA, process_vm_readv) is refused in
#   many containers (ptrace restrictions): OMPI_MCA_btl_vader_single_copy_mechanism=none unless
#   already set in the environment.

mpi_cores() {
    local online physical=""
    online="$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)"
    if command -v nproc >/dev/null 2>&1; then online="$(nproc)"; fi
    if [[ "$(uname -s)" == Darwin ]]; then
        physical="$(sysctl -n hw.physicalcpu 2>/dev/null || true)"
    elif command -v lscpu >/dev/null 2>&1; then
        physical="$(lscpu -p=core,socket 2>/dev/null | grep -v '^#' | sort -u | wc -l | tr -d ' ')"
    fi
    if [[ -n "$physical" && "$physical" -gt 0 && "$physical" -lt "$online" ]]; then echo "$physical"; else echo "$online"; fi
}

mpi_prepare() {
    local np="$1"
    if ! [[ "$np" =~ ^[1-9][0-9]*$ ]]; then
        echo "$(basename "$0"): the number of ranks must be a positive integer, got '$np'" >&2
        return 2
    fi
    if ! command -v mpirun >/dev/null 2>&1; then
        echo "$(basename "$0"): mpirun not found; scripts/bootstrap.sh installs Open MPI" >&2
        return 1
    fi
    MPIRUN=(mpirun -np "$np")
    if [[ "$(id -u)" -eq 0 ]]; then
        export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    fi
    if ((np > $(mpi_cores))); then MPIRUN+=(--oversubscribe); fi
    export OMPI_MCA_btl_vader_single_copy_mechanism="${OMPI_MCA_btl_vader_single_copy_mechanism:-none}"
}

mpi_take_np() {
    np=2
    MPI_ARGS=("$@")
    case "${1:-}" in
        -h|--help) sed -n '2,/^[^#]/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
        -np|--np) [[ $# -ge 2 ]] || { echo "$(basename "$0"): -np needs a value" >&2; return 2; }; np="$2"; MPI_ARGS=("${@:3}") ;;
        -np=*|--np=*) np="${1#*=}"; MPI_ARGS=("${@:2}") ;;
    esac
}
