#!/usr/bin/env bash
# Fuzz TesseraVision's JPEG decoder with libFuzzer + AddressSanitizer.
#
#   scripts/fuzz-jpeg.sh SECONDS [extra libFuzzer flags...]
#
# Builds outside the package build (nothing here touches Package.swift or .build): the C
# decoder (Sources/CTesseraJPEG) and the Swift codec files (Image.swift, JPEG.swift,
# FileIO.swift) plus Fuzz/JPEGFuzz/main.swift and Fuzz/Common.swift are compiled into one
# binary under .build-fuzz/ (scripts/fuzz-common.sh). The corpus is seeded with the JPEG test fixtures and, when Pillow and the
# CIFAR-10 PNG sample are present, a few sample images saved as baseline, progressive,
# gray and restart-marker JPEGs; crashes are written to .build-fuzz/artifacts-jpeg/ (any
# single allocation over 256 MB counts as a crash). libjpeg-turbo itself is the system
# library (not instrumented), so coverage guidance comes from our glue code; the
# sanitizers watch everything.
set -euo pipefail

SECONDS_TO_RUN="${1:?usage: scripts/fuzz-jpeg.sh SECONDS [libFuzzer flags...]}"
shift
# shellcheck source=scripts/fuzz-common.sh
source "$(dirname "$0")/fuzz-common.sh"  # ROOT, OUT, fuzz_build, fuzz_run
CORPUS="$OUT/corpus-jpeg"
mkdir -p "$CORPUS"

fuzz_build JPEG "$(pkg-config --cflags libturbojpeg)" "$(pkg-config --libs libturbojpeg)"

# Seed corpus: the fixtures, and CIFAR sample images re-encoded in several JPEG flavours.
cp -n "$ROOT"/Tests/TesseraVisionTests/Fixtures/jpeg/*.jpg "$CORPUS/" 2>/dev/null || true
DATA="${TESSERA_DATA:-$ROOT/../shared/data}"
if [ -d "$DATA/cifar10-png-sample/test" ] && python3 -c "import PIL" 2>/dev/null; then
    python3 - "$DATA/cifar10-png-sample/test" "$CORPUS" <<'PY'
import os, sys
from PIL import Image
src, dst = sys.argv[1], sys.argv[2]
flavours = [("base", {"quality": 85}), ("prog", {"quality": 75, "progressive": True}),
            ("444", {"quality": 95, "subsampling": 0}), ("rst", {"quality": 80, "restart_marker_blocks": 2})]
for cls in ("airplane", "cat", "ship"):
    for k in range(3):
        im = Image.open(os.path.join(src, cls, "%d.png" % k)).convert("RGB")
        for name, options in flavours:
            out = os.path.join(dst, "cifar-%s-%d-%s.jpg" % (cls, k, name))
            if not os.path.exists(out):
                im.save(out, "JPEG", **options)
        gray = os.path.join(dst, "cifar-%s-%d-gray.jpg" % (cls, k))
        if not os.path.exists(gray):
            im.convert("L").save(gray, "JPEG", quality=80)
PY
fi

cat > "$OUT/jpeg.dict" <<'DICT'
"\xff\xd8\xff"
"\xff\xd9"
"\xff\xc0"
"\xff\xc1"
"\xff\xc2"
"\xff\xc4"
"\xff\xc9"
"\xff\xca"
"\xff\xcc"
"\xff\xda"
"\xff\xdb"
"\xff\xdd"
"\xff\xd0"
"\xff\xd7"
"\xff\xe0"
"\xff\xe1"
"\xff\xe2"
"\xff\xee"
"\xff\xfe"
"JFIF\x00"
"Exif\x00\x00"
"Adobe"
"ICC_PROFILE\x00"
DICT

fuzz_run "$OUT/jpeg-fuzz" "$CORPUS" "$OUT/jpeg.dict" "$OUT/artifacts-jpeg" "$SECONDS_TO_RUN" "$@"
