# Shared by scripts/fuzz-png.sh and scripts/fuzz-jpeg.sh (sourced, not run): builds one
# libFuzzer + AddressSanitizer binary from a C target and Swift files outside the package
# build (no unsafeFlags in any target), and runs it. Sets ROOT (the package) and OUT
# (.build-fuzz/ in it).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/.build-fuzz"
mkdir -p "$OUT"

# fuzz_build CODEC "CFLAGS" "LIBS" [EXTRA_CFLAGS...]: for CODEC (PNG or JPEG), compiles
# Sources/CTessera<CODEC> with -fsanitize=fuzzer-no-link,address, then Image.swift,
# <CODEC>.swift, FileIO.swift (with Tessera's AtomicFile.swift), Fuzz/<CODEC>Fuzz/main.swift and Fuzz/Common.swift with
# -sanitize=fuzzer,address into $OUT/<codec>-fuzz.
fuzz_build() {
    local codec="$1" cflags="$2" libs="$3"
    shift 3
    local lower module
    lower="$(echo "$codec" | tr '[:upper:]' '[:lower:]')"
    module="CTessera$codec"
    mkdir -p "$OUT/module-$module"
    cat > "$OUT/module-$module/module.modulemap" <<MAP
module $module {
    header "$ROOT/Sources/$module/include/$module.h"
    export *
}
MAP
    echo "== compiling $module (fuzzer-no-link, address)"
    # shellcheck disable=SC2086  # the pkg-config flags are word lists
    clang -O1 -g -fsanitize=fuzzer-no-link,address "$@" -I "$ROOT/Sources/$module/include" $cflags \
        -c "$ROOT/Sources/$module/tessera_$lower.c" -o "$OUT/tessera_$lower.o"
    echo "== compiling the Swift fuzz target (fuzzer, address)"
    # shellcheck disable=SC2086
    swiftc -parse-as-library -O -g -sanitize=fuzzer,address -module-name "${codec}Fuzz" -I "$OUT/module-$module" \
        "$ROOT/Sources/TesseraVision/Image.swift" "$ROOT/Sources/TesseraVision/$codec.swift" \
        "$ROOT/Sources/TesseraVision/FileIO.swift" "$ROOT/Sources/Tessera/Runtime/AtomicFile.swift" \
        "$ROOT/Fuzz/${codec}Fuzz/main.swift" "$ROOT/Fuzz/Common.swift" \
        "$OUT/tessera_$lower.o" $libs -o "$OUT/$lower-fuzz"
}

# fuzz_run BINARY CORPUS DICT ARTIFACTS SECONDS [libFuzzer flags...]: runs for SECONDS; crashes,
# leaks and any single allocation over 256 MB are written to ARTIFACTS.
fuzz_run() {
    local binary="$1" corpus="$2" dict="$3" artifacts="$4" seconds="$5"
    shift 5
    mkdir -p "$corpus" "$artifacts"
    # A smaller ASan quarantine keeps RSS steady across millions of short-lived image buffers.
    export ASAN_OPTIONS="${ASAN_OPTIONS:-quarantine_size_mb=32:detect_leaks=1}"
    echo "== fuzzing for $seconds s (corpus $corpus, crashes in $artifacts)"
    exec "$binary" "$corpus" -dict="$dict" -max_total_time="$seconds" \
        -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=256 -max_len=65536 \
        -artifact_prefix="$artifacts/" -print_final_stats=1 "$@"
}
