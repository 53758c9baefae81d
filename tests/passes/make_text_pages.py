#!/usr/bin/python3
"""Synthetic text pages for text detectors: lines of random 5x8 bitmap glyphs (value -1) on a
light page (value 1), N x 3 x H x W float32, written as an .npz with one member "x".

usage: /usr/bin/python3 tests/passes/make_text_pages.py OUT.npz COUNT SEED [SIZE | HxW] [--uint8]

SIZE makes square pages (default 640); HxW (e.g. 48x320, PaddleOCR's recognizer and classifier
input) makes pages of that shape; a height under 100 holds one text line (a cropped word image).

--uint8 stores 0 / 255 instead of -1 / 1 (a quarter of the bytes; map back with --preprocess
scale=0.00784313725490196,mean=1).

tools/make_inputs.py's "text" fill draws solid bars, on which PaddleOCR's detector outputs an
all-zero map (useless for comparing a quantized model with the float one); glyph lines give it
real text regions (about 10 % of pixels above 0.3)."""
import sys

import numpy as np


def line(rng, h, w):
    img = np.ones((h, w), np.float32)
    sc = max(1, (h * 2 // 3) // 8)
    y = (h - 8 * sc) // 2
    x = int(rng.integers(2, 12))
    end = int(rng.integers(w // 2, w - 2))
    while x + 6 * sc < end:
        glyph = np.kron(rng.random((8, 5)) < 0.45, np.ones((sc, sc)))
        gh, gw = glyph.shape
        img[y:y + gh, x:x + gw][glyph > 0] = -1
        x += gw + sc * (1 + int(rng.random() < 0.15) * 3)
    return np.stack([img] * 3)


def page(rng, height, w):
    if height < 100:
        return line(rng, height, w)
    img = np.ones((height, w), np.float32)
    y = 30
    while y < height - 40:
        h = int(rng.integers(16, 40))
        x = int(rng.integers(10, 100))
        end = int(rng.integers(w // 2, w - 10))
        sc = max(1, h // 8)
        while x + 6 * sc < end:
            glyph = np.kron(rng.random((8, 5)) < 0.45, np.ones((sc, sc)))
            gh, gw = glyph.shape
            if y + gh >= height:
                break
            img[y:y + gh, x:x + gw][glyph > 0] = -1
            x += gw + sc * (1 + int(rng.random() < 0.15) * 3)
        y += h + int(rng.integers(10, 40))
    return np.stack([img] * 3)


def main():
    as_uint8 = "--uint8" in sys.argv
    args = [a for a in sys.argv[1:] if a != "--uint8"]
    out, count, seed = args[0], int(args[1]), int(args[2])
    size = args[3] if len(args) > 3 else "640"
    h, w = (int(v) for v in size.split("x")) if "x" in size else (int(size), int(size))
    rng = np.random.default_rng(seed)
    pages = np.stack([page(rng, h, w) for _ in range(count)])
    np.savez(out, x=((pages + 1) * 127.5).astype(np.uint8) if as_uint8 else pages.astype(np.float32))


if __name__ == "__main__":
    main()
