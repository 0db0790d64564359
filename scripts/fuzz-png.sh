#!/usr/bin/env bash
# Fuzz TesseraVision's PNG decoder with libFuzzer + AddressSanitizer.
#
#   scripts/fuzz-png.sh SECONDS [extra libFuzzer flags...]
#
# Builds outside the package build (nothing here touches Package.swift or .build): the C
# codec (Sources/CTesseraPNG, with -DTESSERA_FUZZING so CRC mismatches do not stop the
# parsers) and the Swift codec files (Image.swift, PNG.swift, FileIO.swift) plus
# Fuzz/PNGFuzz/main.swift and Fuzz/Common.swift are compiled into one binary under
# .build-fuzz/ (scripts/fuzz-common.sh). The corpus is
# seeded with the PNG fixtures and, when present, the CIFAR-10 PNG sample; crashes are
# written to .build-fuzz/artifacts/ (any single allocation over 256 MB counts as a crash).
# libpng itself is the system library (not instrumented),
# so coverage guidance comes from our glue code; the sanitizers watch everything.
set -euo pipefail

SECONDS_TO_RUN="${1:?usage: scripts/fuzz-png.sh SECONDS [libFuzzer flags...]}"
shift
# shellcheck source=scripts/fuzz-common.sh
source "$(dirname "$0")/fuzz-common.sh"  # ROOT, OUT, fuzz_build, fuzz_run
mkdir -p "$OUT/corpus"

fuzz_build PNG "$(pkg-config --cflags libpng)" "$(pkg-config --libs libpng) $(pkg-config --libs zlib)" -DTESSERA_FUZZING

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

fuzz_run "$OUT/png-fuzz" "$OUT/corpus" "$OUT/png.dict" "$OUT/artifacts" "$SECONDS_TO_RUN" "$@"
