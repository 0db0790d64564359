#!/usr/bin/env bash
# Fuzz TesseraVision's PNG decoder with libFuzzer + AddressSanitizer.
#
#   scripts/fuzz-png.sh SECONDS [extra libFuzzer flags...]
#
# Builds outside the package build (nothing here touches Package.swift or .build): the C
# codec (Sources/CTesseraPNG, with -DTESSERA_FUZZING so CRC mismatches do not stop the
# parsers) and the Swift codec files (Image.swift, PNG.swift, FileIO.swift) plus
# Fuzz/PNGFuzz/main.swift are compiled into one binary under .build-fuzz/. The corpus is
# seeded with the PNG fixtures and, when present, the CIFAR-10 PNG sample; crashes are
# written to .build-fuzz/artifacts/ (any single allocation over 256 MB counts as a crash).
# libpng itself is the system library (not instrumented),
# so coverage guidance comes from our glue code; the sanitizers watch everything.
set -euo pipefail

SECONDS_TO_RUN="${1:?usage: scripts/fuzz-png.sh SECONDS [libFuzzer flags...]}"
shift
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$ROOT/.build-fuzz"
mkdir -p "$OUT/module" "$OUT/corpus" "$OUT/artifacts"

PNG_CFLAGS="$(pkg-config --cflags libpng)"
PNG_LIBS="$(pkg-config --libs libpng) $(pkg-config --libs zlib)"

cat > "$OUT/module/module.modulemap" <<MAP
module CTesseraPNG {
    header "$ROOT/Sources/CTesseraPNG/include/CTesseraPNG.h"
    export *
}
MAP

echo "== compiling CTesseraPNG (fuzzer-no-link, address)"
clang -O1 -g -fsanitize=fuzzer-no-link,address -DTESSERA_FUZZING \
    -I "$ROOT/Sources/CTesseraPNG/include" $PNG_CFLAGS \
    -c "$ROOT/Sources/CTesseraPNG/tessera_png.c" -o "$OUT/tessera_png.o"

echo "== compiling the Swift fuzz target (fuzzer, address)"
swiftc -parse-as-library -O -g -sanitize=fuzzer,address -module-name PNGFuzz \
    -I "$OUT/module" \
    "$ROOT/Sources/TesseraVision/Image.swift" \
    "$ROOT/Sources/TesseraVision/PNG.swift" \
    "$ROOT/Sources/TesseraVision/FileIO.swift" \
    "$ROOT/Sources/Tessera/Runtime/AtomicFile.swift" \
    "$ROOT/Fuzz/PNGFuzz/main.swift" \
    "$OUT/tessera_png.o" $PNG_LIBS \
    -o "$OUT/png-fuzz"

# Seed corpus: generated fixtures and a slice of the CIFAR sample.
cp -n "$ROOT"/Tests/TesseraVisionTests/Fixtures/png/*.png "$OUT/corpus/" 2>/dev/null || true
DATA="${TESSERA_DATA:-$ROOT/../shared/data}"
if [ -d "$DATA/cifar10-png-sample/test" ]; then
    for cls in airplane cat ship; do
        for k in 0 1 2; do
            f="$DATA/cifar10-png-sample/test/$cls/$k.png"
            [ -f "$f" ] && cp -n "$f" "$OUT/corpus/cifar-$cls-$k.png" || true
        done
    done
fi

cat > "$OUT/png.dict" <<'DICT'
"\x89PNG\x0d\x0a\x1a\x0a"
"IHDR"
"PLTE"
"IDAT"
"IEND"
"tRNS"
"gAMA"
"sBIT"
"sRGB"
"iCCP"
"tEXt"
"zTXt"
"iTXt"
"bKGD"
"pHYs"
"sPLT"
"hIST"
"tIME"
"cHRM"
"eXIf"
DICT

# A smaller ASan quarantine keeps RSS steady across millions of short-lived image buffers.
export ASAN_OPTIONS="${ASAN_OPTIONS:-quarantine_size_mb=32:detect_leaks=1}"

echo "== fuzzing for $SECONDS_TO_RUN s (corpus $OUT/corpus, crashes in $OUT/artifacts)"
exec "$OUT/png-fuzz" "$OUT/corpus" \
    -dict="$OUT/png.dict" \
    -max_total_time="$SECONDS_TO_RUN" \
    -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=256 -max_len=65536 \
    -artifact_prefix="$OUT/artifacts/" \
    -print_final_stats=1 "$@"
