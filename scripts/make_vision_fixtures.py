#!/usr/bin/env python3
"""Generate the non-PNG fixtures for Tests/TesseraVisionTests/Fixtures.

* idx/: tiny MNIST-format IDX files (train: 7 images of 4x3, test: 2 images), raw and gzipped,
  written with Python's struct and gzip modules; expected.json lists their pixels and labels.
* resize.json: inputs and outputs of torch.nn.functional.interpolate(mode="bilinear",
  align_corners=False, antialias=False) for a few shapes (upsampling, downsampling, mixed),
  the reference for TesseraVision's Resize. Records the PyTorch version.

Run from the package root:  python3 scripts/make_vision_fixtures.py
"""
import gzip
import json
import os
import random
import struct

import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "TesseraVisionTests", "Fixtures")


def idx_bytes(dims, data):
    return struct.pack(">BBBB", 0, 0, 0x08, len(dims)) + b"".join(struct.pack(">I", d) for d in dims) + bytes(data)


def write(path, data, gz):
    if gz:
        # mtime=0 keeps the file byte-identical between runs.
        with open(path + ".gz", "wb") as raw:
            with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
                f.write(data)
    else:
        with open(path, "wb") as f:
            f.write(data)


def make_idx(rng):
    out = os.path.join(ROOT, "idx")
    os.makedirs(out, exist_ok=True)
    expected = {}
    for split, n, gz in (("train", 7, True), ("t10k", 2, False)):
        h, w = 4, 3
        pixels = [rng.randint(0, 255) for _ in range(n * h * w)]
        labels = [rng.randint(0, 9) for _ in range(n)]
        write(os.path.join(out, f"{split}-images-idx3-ubyte"), idx_bytes([n, h, w], pixels), gz)
        write(os.path.join(out, f"{split}-labels-idx1-ubyte"), idx_bytes([n], labels), gz)
        expected[split] = {"count": n, "height": h, "width": w, "gzipped": gz, "pixels": pixels, "labels": labels}
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f)
        f.write("\n")


def make_resize(rng):
    cases = []
    for (c, h, w, oh, ow) in ((2, 3, 4, 5, 7), (1, 7, 6, 3, 2), (3, 4, 4, 4, 9), (1, 5, 5, 5, 5), (1, 1, 3, 2, 3)):
        x = torch.tensor([[[rng.random() for _ in range(w)] for _ in range(h)] for _ in range(c)], dtype=torch.float32)
        y = torch.nn.functional.interpolate(x[None], size=(oh, ow), mode="bilinear", align_corners=False, antialias=False)[0]
        cases.append({"shape": [c, h, w], "out": [c, oh, ow], "input": x.flatten().tolist(), "output": y.flatten().tolist()})
    with open(os.path.join(ROOT, "resize.json"), "w") as f:
        json.dump({"torch_version": torch.__version__, "cases": cases}, f)
        f.write("\n")


def main():
    rng = random.Random(7)
    make_idx(rng)
    make_resize(rng)
    print(f"wrote IDX and resize fixtures under {os.path.normpath(ROOT)} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
