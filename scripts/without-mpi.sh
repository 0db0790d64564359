#!/usr/bin/env bash
# Runs a command with Open MPI's pkg-config files hidden, as on a machine without MPI:
#
#   scripts/without-mpi.sh swift build --package-path Examples/GradientDemo
#
# scripts/test.sh builds the Examples/ packages this way, to check that packages using only the
# other products do not need MPI. SwiftPM reads .pc files itself from the directories named by
# PKG_CONFIG_PATH and by `pkg-config --variable pc_path pkg-config` (which PKG_CONFIG_LIBDIR
# does not change), so hiding a file takes both: a directory of links to every .pc file except
# Open MPI's, and a `pkg-config` ahead on PATH that names that directory as its search path. A
# target that imports CMPI then fails to build ('mpi.h' file not found); the others build, with
# SwiftPM's warning that ompi-c is missing.
set -euo pipefail
(($#)) || { echo "usage: scripts/without-mpi.sh COMMAND [ARG...]" >&2; exit 2; }
real="$(command -v pkg-config)" || { echo "without-mpi: pkg-config is not on PATH" >&2; exit 1; }
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/pc" "$dir/bin"
IFS=: read -r -a paths <<<"$("$real" --variable pc_path pkg-config):${PKG_CONFIG_PATH:-}"
for d in "${paths[@]}"; do
    [[ -n "$d" && -d "$d" ]] || continue
    for f in "$d"/*.pc; do
        [[ -e "$f" ]] || continue
        case "$(basename "$f")" in
            ompi*.pc | mpi*.pc | orte*.pc | opal*.pc) ;;
            *) [[ -e "$dir/pc/$(basename "$f")" ]] || ln -s "$f" "$dir/pc/" ;;
        esac
    done
done
cat >"$dir/bin/pkg-config" <<WRAPPER
#!/bin/sh
if [ "\$*" = "--variable pc_path pkg-config" ]; then echo "$dir/pc"; exit 0; fi
PKG_CONFIG_LIBDIR="$dir/pc" PKG_CONFIG_PATH= exec "$real" "\$@"
WRAPPER
chmod +x "$dir/bin/pkg-config"
PATH="$dir/bin:$PATH" PKG_CONFIG_PATH= PKG_CONFIG_LIBDIR="$dir/pc" "$@"
