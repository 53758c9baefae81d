#!/usr/bin/python3
"""Write a deterministic model-input .npz from an input spec string.

usage: /usr/bin/python3 tools/make_inputs.py SPEC OUT.npz [--seed N]

SPEC is either a model name from tools/real_models.tsv (e.g. "silero_vad") or a spec string:

    SPEC  := INPUT (';' INPUT)*
    INPUT := NAME ':' DTYPE ':' SHAPE [':' FILL]
    SHAPE := DIMS ['=' VALUE]          DIMS: comma-separated sizes, empty for a 0-d scalar
    FILL  := randn | zeros | ones | text   (default randn)

"text" draws dark "text lines" on a light page (values -1 and 1) over the last two axes: a
structured image for text detectors, whose output on noise is flat and ill-conditioned.

NAME may itself contain ':' (e.g. "onnx::Flatten_0"); the fields are split from the right.
DTYPE uses ONNX Runtime's names: float16 float32 float64 int8 uint8 int16 uint16 int32 uint32
int64 uint64 bool. "=VALUE" fills the whole shape with a literal, e.g. "sr:int64:=16000" is a 0-d
int64 scalar 16000. Examples:

    x:float32:1,3,48,320
    input:float32:1,512;sr:int64:=16000;h:float32:2,1,64:zeros;c:float32:2,1,64:zeros

Random values come from numpy.random.default_rng(seed), drawn input by input in spec order
(only random inputs draw): float inputs get standard normal samples (drawn as float64, then cast),
integer inputs uniform integers in [0, 10), bool inputs fair coin flips. The output is an
uncompressed .npz whose members are "<NAME>.npy", in spec order; the same SPEC and seed give
the same bytes.
"""

import argparse
import io
import os
import sys
import zipfile

import numpy as np

DTYPES = {
    "float16": np.float16,
    "float32": np.float32,
    "float64": np.float64,
    "int8": np.int8,
    "uint8": np.uint8,
    "int16": np.int16,
    "uint16": np.uint16,
    "int32": np.int32,
    "uint32": np.uint32,
    "int64": np.int64,
    "uint64": np.uint64,
    "bool": np.bool_,
}
FILLS = ("randn", "zeros", "ones", "text")
TSV = os.path.join(os.path.dirname(os.path.abspath(__file__)), "real_models.tsv")


class SpecError(ValueError):
    pass


def parse_input(text):
    parts = text.split(":")
    fill = "randn"
    if len(parts) >= 4 and parts[-1] in FILLS:
        fill = parts.pop()
    if len(parts) < 3:
        raise SpecError(f"'{text}': expected NAME:DTYPE:SHAPE[:FILL]")
    name = ":".join(parts[:-2])
    dtype, shape_text = parts[-2], parts[-1]
    if not name:
        raise SpecError(f"'{text}': empty input name")
    if dtype not in DTYPES:
        raise SpecError(f"'{text}': unknown dtype '{dtype}' (one of {' '.join(DTYPES)})")
    literal = None
    if "=" in shape_text:
        shape_text, literal = shape_text.split("=", 1)
    dims = []
    for d in shape_text.split(",") if shape_text.strip() else []:
        d = d.strip()
        if not d.isdigit():
            raise SpecError(f"'{text}': bad dimension '{d}'")
        dims.append(int(d))
    if literal is not None and fill != "randn":
        raise SpecError(f"'{text}': give either '=VALUE' or ':{fill}', not both")
    return {"name": name, "dtype": dtype, "shape": tuple(dims), "fill": fill, "literal": literal}


def parse_spec(spec):
    inputs = [parse_input(p.strip()) for p in spec.split(";") if p.strip()]
    if not inputs:
        raise SpecError("empty spec")
    names = [i["name"] for i in inputs]
    if len(set(names)) != len(names):
        raise SpecError(f"duplicate input names in spec: {names}")
    return inputs


def lookup_model(name):
    with open(TSV, encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    header, rows = rows[0], rows[1:]
    col = header.index("inputs")
    for row in rows:
        if row[0] == name:
            return row[col]
    raise SpecError(f"'{name}' is neither a spec nor a model in {TSV} ({', '.join(r[0] for r in rows)})")


def literal_value(dtype, text):
    text = text.strip()
    if dtype == "bool":
        low = text.lower()
        if low in ("1", "true"):
            return True
        if low in ("0", "false"):
            return False
        raise SpecError(f"bad bool literal '{text}'")
    try:
        return float(text) if dtype.startswith("float") else int(text, 0)
    except ValueError:
        raise SpecError(f"bad {dtype} literal '{text}'") from None


def make_arrays(inputs, seed):
    rng = np.random.default_rng(seed)
    out = {}
    for spec in inputs:
        dtype, shape = spec["dtype"], spec["shape"]
        npt = DTYPES[dtype]
        if spec["literal"] is not None:
            a = np.full(shape, literal_value(dtype, spec["literal"]), dtype=npt)
        elif spec["fill"] == "zeros":
            a = np.zeros(shape, dtype=npt)
        elif spec["fill"] == "ones":
            a = np.ones(shape, dtype=npt)
        elif spec["fill"] == "text":
            if len(shape) < 2:
                raise SystemExit("make_inputs: fill 'text' needs at least two axes")
            y, x = np.mgrid[0:shape[-2], 0:shape[-1]]
            ink = ((y // 24) % 3 == 0) & ((x // 9) % 4 != 0) & (y % 24 > 4) & (y % 24 < 20)
            a = np.broadcast_to(np.where(ink, -1.0, 1.0), shape).astype(npt)
        elif dtype.startswith("float"):
            a = rng.standard_normal(shape).astype(npt)
        elif dtype == "bool":
            a = rng.random(shape) < 0.5
        else:
            a = rng.integers(0, 10, size=shape).astype(npt)
        out[spec["name"]] = np.asarray(a, order="C")  # (ascontiguousarray would turn 0-d into 1-d)
    return out


def main(argv):
    ap = argparse.ArgumentParser(description="Write a deterministic model-input .npz from an input spec.")
    ap.add_argument("spec", help="input spec string, or a model name from tools/real_models.tsv")
    ap.add_argument("out", help="output .npz path")
    ap.add_argument("--seed", type=int, default=0, help="numpy default_rng seed (default 0)")
    args = ap.parse_args(argv)
    try:
        spec = args.spec if ":" in args.spec else lookup_model(args.spec)
        arrays = make_arrays(parse_spec(spec), args.seed)
    except (SpecError, OSError) as e:
        print(f"make_inputs: error: {e}", file=sys.stderr)
        return 2
    write_npz(args.out, arrays)
    return 0


def write_npz(path, arrays):
    """Like numpy.savez, but byte-for-byte reproducible (fixed member timestamps)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, a in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, a, allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
