#!/usr/bin/env python3
"""Generate the PNG fixtures for Tests/TesseraVisionTests/Fixtures.

Two independent encoders produce the files:
  * a small raw PNG writer in this script (zlib + struct), which can emit every colour type,
    every bit depth, tRNS chunks, all five row filters and Adam7 interlacing;
  * Pillow (its version is recorded in expected.json), for the kinds it can write.

The expected 8-bit pixels in expected.json are derived from the sample values the script
generated, using the conversion TesseraVision defines:
  * gray of depth 1/2/4 is scaled to 0...255 by bit replication (v * 255 / (2^d - 1));
  * 16-bit samples keep their high byte (v >> 8);
  * palette images become RGB, or RGBA when the file has a tRNS chunk (entries past the end of
    tRNS are opaque);
  * gray and RGB images with a tRNS colour gain an alpha channel: 0 where the pixel equals the
    tRNS colour (compared at full bit depth), 255 elsewhere;
  * no gamma or colour-space conversion.
Every file is also decoded with Pillow and compared with the expected pixels, so the expected
values are checked by a second decoder.

Run from the package root:  python3 scripts/make_png_fixtures.py
"""
import io
import json
import os
import random
import struct
import zlib

import PIL
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "TesseraVisionTests", "Fixtures", "png")

ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def chunk(kind, data):
    c = struct.pack(">I", len(data)) + kind + data
    return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def pack_row(samples, depth):
    """samples: flat list of ints for one row (all channels)."""
    if depth == 8:
        return bytes(samples)
    if depth == 16:
        return b"".join(struct.pack(">H", s) for s in samples)
    out = bytearray()
    per = 8 // depth
    for i in range(0, len(samples), per):
        byte = 0
        group = samples[i:i + per]
        for j, s in enumerate(group):
            byte |= s << (8 - depth * (j + 1))
        out.append(byte)
    return bytes(out)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def filter_rows(rows, bpp, rng):
    """Apply a random filter type to each row (rows: list of bytes of equal length)."""
    out = bytearray()
    prev = bytes(len(rows[0])) if rows else b""
    for row in rows:
        ftype = rng.randrange(5)
        f = bytearray()
        for i, x in enumerate(row):
            a = row[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][ftype]
            f.append((x - pred) & 0xFF)
        out.append(ftype)
        out += f
        prev = row
    return bytes(out)


def raw_png(width, height, color_type, depth, pixels, palette=None, trns=None, interlace=False, seed=0):
    """pixels: list of rows, each a list of per-pixel tuples of samples."""
    rng = random.Random(seed)
    ch = CHANNELS[color_type]
    bpp = max(1, ch * depth // 8)

    def encode_image(xs, ys):
        rows = []
        for y in ys:
            flat = []
            for x in xs:
                flat.extend(pixels[y][x])
            rows.append(pack_row(flat, depth))
        return filter_rows(rows, bpp, rng) if rows and rows[0] else b""

    if interlace:
        data = b""
        for (x0, y0, dx, dy) in ADAM7:
            xs = list(range(x0, width, dx))
            ys = list(range(y0, height, dy))
            if xs and ys:
                data += encode_image(xs, ys)
    else:
        data = encode_image(list(range(width)), list(range(height)))
    png = b"\x89PNG\r\n\x1a\n"
    png += chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 1 if interlace else 0))
    if palette is not None:
        png += chunk(b"PLTE", b"".join(bytes(p) for p in palette))
    if trns is not None:
        if color_type == 3:
            png += chunk(b"tRNS", bytes(trns))
        elif color_type == 0:
            png += chunk(b"tRNS", struct.pack(">H", trns))
        else:
            png += chunk(b"tRNS", struct.pack(">HHH", *trns))
    z = zlib.compress(data, 9)
    # Split IDAT in two to exercise multi-chunk image data.
    half = len(z) // 2
    png += chunk(b"IDAT", z[:half]) + chunk(b"IDAT", z[half:])
    png += chunk(b"IEND", b"")
    return png


def scale(v, depth):
    if depth == 16:
        return v >> 8
    if depth == 8:
        return v
    return v * 255 // ((1 << depth) - 1)


def expected_pixels(width, height, color_type, depth, pixels, palette=None, trns=None):
    out = []
    if color_type == 3:
        channels = 4 if trns is not None else 3
        for row in pixels:
            for (i,) in row:
                r, g, b = palette[i]
                out += [r, g, b]
                if trns is not None:
                    out.append(trns[i] if i < len(trns) else 255)
        return channels, out
    ch = CHANNELS[color_type]
    channels = ch + (1 if trns is not None else 0)
    for row in pixels:
        for px in row:
            out += [scale(s, depth) for s in px]
            if trns is not None:
                key = (trns,) if color_type == 0 else tuple(trns)
                out.append(0 if tuple(px) == key else 255)
    return channels, out


def random_pixels(rng, width, height, ch, maxval):
    return [[tuple(rng.randint(0, maxval) for _ in range(ch)) for _ in range(width)] for _ in range(height)]


def pillow_pixels(data, channels):
    """Decode with Pillow and produce 8-bit HWC samples in the same convention."""
    im = Image.open(io.BytesIO(data))
    im.load()
    mode = im.mode
    w, h = im.size
    trns = im.info.get("transparency")
    if mode == "P":
        im = im.convert("RGBA" if channels == 4 else "RGB")
        return list(im.tobytes())
    if mode in ("1", "L"):
        vals = list(im.convert("L").tobytes()) if mode == "1" else list(im.tobytes())
        if channels == 2:
            depth = data[24]  # IHDR bit depth
            return [x for v in vals for x in (v, 0 if v == scale(trns, depth) else 255)]
        return vals
    if mode.startswith("I"):
        vals = [im.getpixel((x, y)) for y in range(h) for x in range(w)]
        if channels == 2:
            return [x for v in vals for x in (v >> 8, 0 if v == trns else 255)]
        return [v >> 8 for v in vals]
    if mode == "RGBA" and channels == 2:
        # Pillow opens 16-bit gray+alpha as RGBA (gray replicated, high bytes).
        b = im.tobytes()
        return [b[i + k] for i in range(0, len(b), 4) for k in (0, 3)]
    if mode == "RGB" and channels == 4:
        if data[24] != 8:
            return None  # Pillow keeps only the high bytes, so it cannot apply a 16-bit tRNS key.
        b = im.tobytes()
        return [x for i in range(0, len(b), 3)
                for x in (b[i], b[i + 1], b[i + 2], 0 if tuple(b[i:i + 3]) == tuple(trns) else 255)]
    return list(im.tobytes())


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = random.Random(20240601)
    cases = []

    def add(name, width, height, color_type, depth, interlace=False, palette_size=None, with_trns=False, pixels=None):
        ch = CHANNELS[color_type]
        palette = trns = None
        if color_type == 3:
            n = palette_size or (1 << depth)
            palette = [tuple(rng.randint(0, 255) for _ in range(3)) for _ in range(n)]
            if pixels is None:
                pixels = random_pixels(rng, width, height, 1, n - 1)
            if with_trns:
                trns = [rng.randint(0, 255) for _ in range(max(1, n // 2))]
                trns[0] = 0
        else:
            maxval = (1 << depth) - 1
            if pixels is None:
                pixels = random_pixels(rng, width, height, ch, maxval)
            if with_trns:
                # Make the transparent colour actually occur.
                key = pixels[0][0]
                trns = key[0] if color_type == 0 else tuple(key)
                # And a near miss that differs only in the low byte (for 16-bit).
                if depth == 16 and width > 1:
                    near = tuple((s ^ 1) for s in key)
                    pixels[0][1] = near
        data = raw_png(width, height, color_type, depth, pixels, palette, trns, interlace, seed=rng.randrange(1 << 30))
        channels, exp = expected_pixels(width, height, color_type, depth, pixels, palette, trns)
        cases.append((name, data, width, height, channels, exp, "raw"))

    W, H = 9, 7
    for d in (1, 2, 4, 8, 16):
        add(f"gray{d}", W, H, 0, d)
    for d in (8, 16):
        add(f"grayalpha{d}", W, H, 4, d)
        add(f"rgb{d}", W, H, 2, d)
        add(f"rgba{d}", W, H, 6, d)
    for d in (1, 2, 4, 8):
        add(f"palette{d}", W, H, 3, d)
    add("palette8_small", W, H, 3, 8, palette_size=5)
    add("palette8_trns", W, H, 3, 8, with_trns=True)
    add("palette2_trns", W, H, 3, 2, with_trns=True)
    add("gray8_trns", W, H, 0, 8, with_trns=True)
    add("gray16_trns", W, H, 0, 16, with_trns=True)
    add("gray2_trns", W, H, 0, 2, with_trns=True)
    add("rgb8_trns", W, H, 2, 8, with_trns=True)
    add("rgb16_trns", W, H, 2, 16, with_trns=True)
    # Adam7: sizes that leave some passes partial or empty.
    add("interlaced_rgb8", 13, 11, 2, 8, interlace=True)
    add("interlaced_gray1", 13, 11, 0, 1, interlace=True)
    add("interlaced_gray4", 5, 3, 0, 4, interlace=True)
    add("interlaced_palette4", 10, 9, 3, 4, interlace=True)
    add("interlaced_rgba16", 9, 9, 6, 16, interlace=True)
    add("interlaced_grayalpha8", 17, 3, 4, 8, interlace=True)
    add("interlaced_tiny", 1, 1, 2, 8, interlace=True)
    add("tiny_gray1", 1, 1, 0, 1)
    add("wide_gray1", 33, 2, 0, 1)

    # Files written by Pillow's own encoder.
    def add_pillow(name, im, channels, exp):
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        cases.append((name, buf.getvalue(), im.size[0], im.size[1], channels, exp, "pillow"))

    for mode, ch in (("L", 1), ("LA", 2), ("RGB", 3), ("RGBA", 4)):
        vals = [rng.randint(0, 255) for _ in range(W * H * ch)]
        im = Image.frombytes(mode, (W, H), bytes(vals))
        add_pillow(f"pillow_{mode.lower()}", im, ch, vals)
    bits = [rng.randint(0, 1) for _ in range(W * H)]
    im = Image.new("1", (W, H))
    im.putdata([b * 255 for b in bits])
    add_pillow("pillow_1bit", im, 1, [b * 255 for b in bits])
    vals16 = [rng.randint(0, 65535) for _ in range(W * H)]
    im = Image.new("I;16", (W, H))
    im.putdata(vals16)
    add_pillow("pillow_i16", im, 1, [v >> 8 for v in vals16])
    pal = [rng.randint(0, 255) for _ in range(16 * 3)]
    idx = [rng.randint(0, 15) for _ in range(W * H)]
    im = Image.new("P", (W, H))
    im.putpalette(pal)
    im.putdata(idx)
    add_pillow("pillow_p16", im, 3, [pal[3 * i + k] for i in idx for k in range(3)])

    manifest = {"pillow_version": PIL.__version__, "zlib_version": zlib.ZLIB_VERSION,
                "conversion": "1/2/4-bit gray scaled by bit replication; 16-bit -> high byte; palette -> RGB(A); "
                              "tRNS colour -> alpha 0; no gamma", "fixtures": []}
    for (name, data, w, h, channels, exp, encoder) in cases:
        assert len(exp) == w * h * channels, name
        check = pillow_pixels(data, channels)
        if check is not None:
            assert check == exp, f"Pillow disagrees on {name}"
        path = os.path.join(OUT, name + ".png")
        with open(path, "wb") as f:
            f.write(data)
        manifest["fixtures"].append({"file": name + ".png", "width": w, "height": h, "channels": channels,
                                     "encoder": encoder, "pillow_checked": check is not None, "pixels": exp})
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        # One fixture per line keeps the file small and its diffs readable.
        head = {k: v for k, v in manifest.items() if k != "fixtures"}
        f.write(json.dumps(head)[:-1] + ', "fixtures": [\n')
        f.write(",\n".join(json.dumps(e, separators=(",", ":")) for e in manifest["fixtures"]))
        f.write("\n]}\n")
    print(f"wrote {len(cases)} fixtures to {os.path.normpath(OUT)} (Pillow {PIL.__version__})")


if __name__ == "__main__":
    main()
