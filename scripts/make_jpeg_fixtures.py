#!/usr/bin/env python3
"""Generate the JPEG fixtures for Tests/TesseraVisionTests/Fixtures/jpeg.

Pillow is the independent encoder and decoder: it writes every file below and decodes each
back; expected.json holds the pixels as Pillow decodes them (mode "RGB" for colour files,
"L" for gray ones) and, for colour files, the luma plane as Pillow's draft("L") decodes it
(libjpeg's own gray output, what TesseraVision's JPEG decoder gives when asked for gray).
The versions of Python, Pillow and the libjpeg-turbo inside Pillow are recorded in
expected.json and printed.

TesseraVision decodes with the system libjpeg-turbo, whose IDCT and upsampling may differ
from the library inside Pillow by rounding: the tests compare within +-2 per sample.

Kinds: gray, 4:4:4, 4:2:2 and 4:2:0 baseline, progressive, optimized Huffman tables with
restart markers, odd sizes (1x1, 33x21), an EXIF orientation tag (pixels stay as stored:
Pillow's Image.open ignores it as TesseraVision does), and a CMYK file (refused).

Run from the package root:  python3 scripts/make_jpeg_fixtures.py
"""
import io
import json
import os
import platform
import random

import PIL
from PIL import Image, features

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "TesseraVisionTests", "Fixtures", "jpeg")


def photo_like(width, height, seed, mode="RGB"):
    """Smooth gradients, a sharp-edged disc and some noise: content with low and high frequencies."""
    rng = random.Random(seed)
    im = Image.new("RGB", (width, height))
    px = im.load()
    cx, cy, r = width * 0.6, height * 0.4, min(width, height) * 0.3
    for y in range(height):
        for x in range(width):
            inside = (x - cx) ** 2 + (y - cy) ** 2 < r * r
            base = (
                int(255 * x / max(1, width - 1)),
                int(255 * y / max(1, height - 1)),
                int(128 + 100 * ((x + y) % 7) / 6 - 50),
            )
            if inside:
                base = (230, 40, 60)
            px[x, y] = tuple(max(0, min(255, v + rng.randint(-12, 12))) for v in base)
    return im.convert(mode) if mode != "RGB" else im


def exif_with_orientation(value):
    exif = Image.Exif()
    exif[0x0112] = value  # Orientation
    return exif.tobytes()


FIXTURES = [
    # name, size, mode, save options
    ("gray_q90.jpg", (24, 17), "L", {"quality": 90}),
    ("rgb444_q95.jpg", (32, 24), "RGB", {"quality": 95, "subsampling": 0}),
    ("rgb422_q85.jpg", (32, 24), "RGB", {"quality": 85, "subsampling": 1}),
    ("rgb420_q75.jpg", (33, 21), "RGB", {"quality": 75, "subsampling": 2}),
    ("progressive_420.jpg", (40, 30), "RGB", {"quality": 80, "subsampling": 2, "progressive": True}),
    ("progressive_gray.jpg", (19, 23), "L", {"quality": 80, "progressive": True}),
    ("optimized_restart.jpg", (48, 32), "RGB", {"quality": 88, "optimize": True, "restart_marker_blocks": 3}),
    ("tiny_1x1.jpg", (1, 1), "RGB", {"quality": 90}),
    ("exif_orientation6.jpg", (20, 12), "RGB", {"quality": 90, "exif": exif_with_orientation(6)}),
    ("cmyk.jpg", (16, 16), "CMYK", {"quality": 90}),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    versions = {
        "python": platform.python_version(),
        "pillow": PIL.__version__,
        "pillow_libjpeg_turbo": features.version("libjpeg_turbo"),
    }
    entries = []
    for seed, (name, (w, h), mode, options) in enumerate(FIXTURES):
        image = photo_like(w, h, seed, mode)
        path = os.path.join(OUT, name)
        image.save(path, "JPEG", **options)
        decoded = Image.open(path)
        entry = {"file": name, "width": decoded.width, "height": decoded.height, "mode": decoded.mode}
        if decoded.mode == "CMYK":
            entry["refused"] = True
        else:
            entry["channels"] = 1 if decoded.mode == "L" else 3
            entry["pixels"] = list(decoded.tobytes())
            if decoded.mode == "RGB":
                gray = Image.open(path)
                gray.draft("L", gray.size)
                assert gray.mode == "L" and gray.size == decoded.size
                entry["gray"] = list(gray.tobytes())
        if "exif" in options:
            entry["exif_orientation"] = Image.open(path).getexif().get(0x0112)
        entries.append(entry)
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump({"versions": versions, "tolerance": 2, "fixtures": entries}, f, separators=(",", ":"))
        f.write("\n")
    print("wrote %d JPEG fixtures to %s with %s" % (len(entries), os.path.normpath(OUT),
          ", ".join("%s %s" % kv for kv in versions.items())))


if __name__ == "__main__":
    main()
