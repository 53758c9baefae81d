#!/usr/bin/python3
"""Synthetic text pages for text detectors: lines of random 5x8 bitmap glyphs (value -1) on a
light page (value 1), N x 3 x H x W float32, written as an .npz with one member "x".

usage: /usr/bin/python3 tests/passes/make_text_pages.py OUT.npz COUNT SEED [SIZE] [--uint8]

--uint8 stores 0 / 255 instead of -1 / 1 (a quarter of the bytes; map back with --preprocess
scale=0.00784313725490196,mean=1).

tools/make_inputs.py's "text" fill draws solid bars, on which PaddleOCR's detector outputs an
all-zero map (useless for comparing a quantized model with the float one); glyph lines give it
real text regions (about 10 % of pixels above 0.3)."""
import sys

import numpy as np


def page(rng, size):
    img = np.ones((size, size), np.float32)
    y = 30
    while y < size - 40:
        h = int(rng.integers(16, 40))
        x = int(rng.integers(10, 100))
        end = int(rng.integers(size // 2, size - 10))
        sc = max(1, h // 8)
        while x + 6 * sc < end:
            glyph = np.kron(rng.random((8, 5)) < 0.45, np.ones((sc, sc)))
            gh, gw = glyph.shape
            if y + gh >= size:
                break
            img[y:y + gh, x:x + gw][glyph > 0] = -1
            x += gw + sc * (1 + int(rng.random() < 0.15) * 3)
        y += h + int(rng.integers(10, 40))
    return np.stack([img] * 3)


def main():
    as_uint8 = "--uint8" in sys.argv
    args = [a for a in sys.argv[1:] if a != "--uint8"]
    out, count, seed = args[0], int(args[1]), int(args[2])
    size = int(args[3]) if len(args) > 3 else 640
    rng = np.random.default_rng(seed)
    pages = np.stack([page(rng, size) for _ in range(count)])
    np.savez(out, x=((pages + 1) * 127.5).astype(np.uint8) if as_uint8 else pages.astype(np.float32))


if __name__ == "__main__":
    main()
