#!/usr/bin/python3
"""Build a large float32 MatMul-chain ONNX model for benchmarking mcompress.

Usage:  /usr/bin/python3 tools/bench/make_big_model.py OUT.onnx [--layers 8] [--dim 4096]

Graph: X float[1,dim] -> MatMul(W0) -> ... -> MatMul(W{layers-1}) -> Y float[1,dim]
Initializers W{i} are float32 [dim,dim] in raw_data. Their values come from
one numpy default_rng(0) stream: standard_normal (float32) * 0.01, drawn layer
after layer in row-major order. The output is deterministic. With the defaults
the file is about 537 MB (8 * 4096*4096*4 bytes plus a few hundred bytes).

Memory: the model is never built as a whole in Python. The small parts
(nodes, inputs/outputs, tensor headers) are serialized with the onnx
protobuf classes. Each weight's raw_data is framed by hand and streamed
to disk in row chunks, so peak RSS stays near the size of one chunk (a few MB)
plus the interpreter. The bytes match what onnx's own SerializeToString()
would produce for the same ModelProto (checked with --self-test).
"""

import argparse
import os
import sys

import numpy as np
from onnx import GraphProto, ModelProto, TensorProto, helper

OPSET = 13
IR_VERSION = 8
CHUNK_BYTES = 4 << 20  # generate and write weights in ~4 MiB pieces
SCALE = np.float32(0.01)


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_header(field_number, length):
    """Tag + length prefix of a length-delimited (wire type 2) field."""
    return varint((field_number << 3) | 2) + varint(length)


def weight_name(i):
    return "W%d" % i


def skeleton(layers, dim):
    """Returns (model_pre, graph_pre, graph_post, model_post): serialized parts
    that wrap the initializers, in field-number order as protobuf writes them.
    ModelProto: fields 1..6 | graph (7) | opset_import (8)...
    GraphProto: node (1), name (2) | initializer (5) | input (11), output (12)
    """
    nodes = []
    prev = "X"
    for i in range(layers):
        out = "Y" if i == layers - 1 else "h%d" % i
        nodes.append(helper.make_node("MatMul", [prev, weight_name(i)], [out], name="matmul_%d" % i))
        prev = out

    g_pre = GraphProto()
    g_pre.node.extend(nodes)
    g_pre.name = "big_matmul_chain"
    g_post = GraphProto()
    g_post.input.extend([helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, dim])])
    g_post.output.extend([helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, dim])])

    m_pre = ModelProto()
    m_pre.ir_version = IR_VERSION
    m_pre.producer_name = "mcompress-bench"
    m_post = ModelProto()
    m_post.opset_import.extend([helper.make_opsetid("", OPSET)])
    return (m_pre.SerializeToString(), g_pre.SerializeToString(),
            g_post.SerializeToString(), m_post.SerializeToString())


def tensor_header(i, dim):
    """TensorProto fields 1 (dims), 2 (data_type), 8 (name), plus the field-9
    (raw_data) tag and length. The raw bytes themselves follow."""
    t = TensorProto()
    t.dims.extend([dim, dim])
    t.data_type = TensorProto.FLOAT
    t.name = weight_name(i)
    nbytes = dim * dim * 4
    return t.SerializeToString() + field_header(9, nbytes)


def stream_weight(f, rng, dim):
    rows = max(1, CHUNK_BYTES // (dim * 4))
    done = 0
    while done < dim:
        n = min(rows, dim - done)
        chunk = rng.standard_normal((n, dim), dtype=np.float32)
        chunk *= SCALE
        f.write(chunk.astype("<f4", copy=False).data)
        done += n


def write_model(path, layers, dim):
    if sys.byteorder != "little":
        raise SystemExit("big-endian host: raw_data framing assumes little-endian")
    m_pre, g_pre, g_post, m_post = skeleton(layers, dim)
    nbytes = dim * dim * 4
    headers = [tensor_header(i, dim) for i in range(layers)]
    init_fields = [field_header(5, len(h) + nbytes) for h in headers]
    graph_len = len(g_pre) + len(g_post) + sum(len(a) + len(h) + nbytes for a, h in zip(init_fields, headers))
    if graph_len >= 2 ** 31:
        raise SystemExit("model would exceed the 2 GiB protobuf limit (%d bytes of graph)" % graph_len)

    rng = np.random.default_rng(0)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(m_pre)
        f.write(field_header(7, graph_len))
        f.write(g_pre)
        for a, h in zip(init_fields, headers):
            f.write(a)
            f.write(h)
            stream_weight(f, rng, dim)
        f.write(g_post)
        f.write(m_post)
    os.replace(tmp, path)
    return os.path.getsize(path)


def reference_bytes(layers, dim):
    """The same model built in memory with onnx (small sizes only)."""
    rng = np.random.default_rng(0)
    inits = []
    for i in range(layers):
        w = rng.standard_normal((dim, dim), dtype=np.float32) * SCALE
        inits.append(helper.make_tensor(weight_name(i), TensorProto.FLOAT, [dim, dim],
                                        w.tobytes(), raw=True))
    nodes = []
    prev = "X"
    for i in range(layers):
        out = "Y" if i == layers - 1 else "h%d" % i
        nodes.append(helper.make_node("MatMul", [prev, weight_name(i)], [out], name="matmul_%d" % i))
        prev = out
    g = helper.make_graph(nodes, "big_matmul_chain",
                          [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, dim])],
                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, dim])],
                          initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)],
                          producer_name="mcompress-bench")
    m.ir_version = IR_VERSION
    return m.SerializeToString()


def self_test():
    import tempfile

    import onnx
    with tempfile.TemporaryDirectory() as d:
        # dim 700 -> 1,960,000-byte weights: multi-byte varints and several chunks.
        for layers, dim in ((1, 4), (3, 64), (2, 700)):
            p = os.path.join(d, "m.onnx")
            write_model(p, layers, dim)
            with open(p, "rb") as f:
                got = f.read()
            assert got == reference_bytes(layers, dim), (layers, dim)
            onnx.checker.check_model(onnx.load(p))
    print("self-test ok")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", nargs="?", help="output .onnx path")
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--dim", type=int, default=4096)
    ap.add_argument("--self-test", action="store_true",
                    help="check the streamed bytes against onnx's serializer on small models")
    args = ap.parse_args()
    if args.self_test:
        self_test()
        return
    if not args.out:
        ap.error("OUT.onnx is required")
    if args.layers < 1 or args.dim < 1:
        ap.error("--layers and --dim must be positive")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    size = write_model(args.out, args.layers, args.dim)
    print("wrote %s: %d bytes (%d layers, dim %d)" % (args.out, size, args.layers, args.dim))


if __name__ == "__main__":
    main()
