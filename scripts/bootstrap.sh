#!/usr/bin/env bash
# Installs the system libraries Tessera builds against — OpenBLAS (cblas), LAPACKE, libpng,
# libjpeg-turbo (its TurboJPEG API), zlib, Open MPI (TesseraDistributed and its mpirun checks)
# and pkg-config — when they are missing; on Debian also iproute2 (`ip netns`, for the two-host
# MPI check). Safe to run again: it installs only what is absent and says so.
#
#   scripts/bootstrap.sh              libraries only
#   scripts/bootstrap.sh --with-data  also Debian's dataset-fashion-mnist (for the demo trainer)
#
# Debian/Ubuntu: apt-get (directly as root, through sudo otherwise).
# macOS: Homebrew. openblas, lapack and jpeg-turbo are keg-only there, so SwiftPM finds them
# only through PKG_CONFIG_PATH; the script prints the line to export (scripts/test.sh sets it).
set -euo pipefail

with_data=0
for arg in "$@"; do
    case "$arg" in
        --with-data) with_data=1 ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bootstrap: unknown option '$arg' (try --help)" >&2; exit 2 ;;
    esac
done

say() { echo "bootstrap: $*"; }
die() { echo "bootstrap: error: $*" >&2; exit 1; }

# The pkg-config modules the SystemLibraries targets name. (On macOS zlib comes with the SDK,
# usually without a .pc file; SwiftPM then links -lz directly, so it is not required there.)
pc_modules=(openblas lapacke libpng libturbojpeg ompi-c)
[[ "$(uname -s)" == Darwin ]] || pc_modules+=(zlib)

check_pkg_config() {
    command -v pkg-config >/dev/null 2>&1 || die "pkg-config is not on PATH"
    local missing=()
    for m in "${pc_modules[@]}"; do
        pkg-config --exists "$m" || missing+=("$m")
    done
    if ((${#missing[@]})); then
        die "pkg-config cannot find: ${missing[*]} (PKG_CONFIG_PATH=${PKG_CONFIG_PATH:-unset})"
    fi
    local found=()
    for m in "${pc_modules[@]}"; do found+=("$m $(pkg-config --modversion "$m")"); done
    say "pkg-config finds $(printf '%s, ' "${found[@]}" | sed 's/, $//')"
}

bootstrap_debian() {
    local wanted=(libopenblas-dev liblapacke-dev libpng-dev libturbojpeg0-dev zlib1g-dev pkg-config libopenmpi-dev openmpi-bin iproute2)
    if ((with_data)); then wanted+=(dataset-fashion-mnist); fi
    local missing=()
    for p in "${wanted[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$p")
        fi
    done
    if ((${#missing[@]} == 0)); then
        say "already present: ${wanted[*]}"
        return
    fi
    local run=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 ||
            die "missing ${missing[*]}, and not root with no sudo; as root run: apt-get update && apt-get install -y ${missing[*]}"
        run=(sudo)
    fi
    say "installing ${missing[*]}"
    ${run[@]+"${run[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get update -q
    ${run[@]+"${run[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    say "installed ${missing[*]}"
}

bootstrap_macos() {
    command -v brew >/dev/null 2>&1 || die "Homebrew is required on macOS (https://brew.sh)"
    local wanted=(openblas lapack libpng jpeg-turbo pkg-config open-mpi)
    local missing=()
    for f in "${wanted[@]}"; do
        brew list --versions "$f" >/dev/null 2>&1 || missing+=("$f")
    done
    if ((${#missing[@]} == 0)); then
        say "already present: ${wanted[*]}"
    else
        say "installing ${missing[*]}"
        brew install "${missing[@]}"
        say "installed ${missing[*]}"
    fi
    if ((with_data)); then
        say "--with-data: dataset-fashion-mnist is a Debian package; on macOS put the Fashion-MNIST idx files under \$TESSERA_DATA yourself"
    fi
    # Keg-only formulas are not linked into the prefix: point pkg-config at them.
    local pcp
    pcp="$(brew --prefix openblas)/lib/pkgconfig:$(brew --prefix lapack)/lib/pkgconfig:$(brew --prefix jpeg-turbo)/lib/pkgconfig"
    export PKG_CONFIG_PATH="$pcp${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
    say "openblas, lapack and jpeg-turbo are keg-only; before swift build, run:"
    echo "  export PKG_CONFIG_PATH=\"$pcp\${PKG_CONFIG_PATH:+:\$PKG_CONFIG_PATH}\""
}

case "$(uname -s)" in
    Linux)
        if command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
            bootstrap_debian
        else
            say "not a Debian-based system: install OpenBLAS, LAPACKE, libpng, libjpeg-turbo (TurboJPEG), Open MPI and pkg-config with your package manager"
            if ((with_data)); then say "--with-data: dataset-fashion-mnist is a Debian package; skipped"; fi
        fi
        ;;
    Darwin) bootstrap_macos ;;
    *) die "unsupported system $(uname -s)" ;;
esac

check_pkg_config
