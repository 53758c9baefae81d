#!/usr/bin/python3
"""Regenerate the malformed-ONNX corpus used to test `mcompress inspect`.

Usage:  /usr/bin/python3 make_corpus.py [OUT_DIR]
        (OUT_DIR defaults to the folder holding this script)

Writes one small bad input per case, plus two manifests:
  cases.tsv     inputs that must be rejected (exit 2); columns
                case, path, exit, must_mention
  controls.tsv  valid inputs of the same shape (exit 0, must_mention "-"),
                so a harness can tell "rejects bad input" from "rejects
                everything"
`path` is relative to the manifest's folder.  Output is deterministic: running
the script twice gives byte-identical files.

Models are written with SerializeToString() rather than onnx.save(), because
onnx.save() on a path tries to (re)write external data files, and no checker
or shape inference may run on these deliberately broken models.
"""

import os
import random
import sys

import numpy as np
from onnx import AttributeProto, ModelProto, TensorProto, helper

OPSET = 13
IR_VERSION = 8


# ---------------------------------------------------------------- builders --

def w_values():
    """Deterministic 4x4 float32 weights."""
    return (np.arange(16, dtype=np.float32).reshape(4, 4) / 16.0).astype(np.float32)


def tensor(name, data_type=TensorProto.FLOAT, dims=(4, 4), raw=None,
           floats=None, external=None):
    """Build a TensorProto by hand (no helper-side validation).

    external: list of (key, value) pairs; sets data_location = EXTERNAL.
    """
    t = TensorProto()
    t.name = name
    t.data_type = data_type
    t.dims.extend(int(d) for d in dims)
    if raw is not None:
        t.raw_data = raw
    if floats is not None:
        t.float_data.extend(floats)
    if external is not None:
        t.data_location = TensorProto.EXTERNAL
        for key, value in external:
            entry = t.external_data.add()
            entry.key = key
            entry.value = value
    return t


def vi(name, shape=(1, 4), elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, list(shape))


def model(nodes, initializers=(), inputs=None, outputs=None, name="g"):
    graph = helper.make_graph(
        nodes, name,
        inputs if inputs is not None else [vi("X")],
        outputs if outputs is not None else [vi("Y")],
        initializer=list(initializers))
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                          producer_name="mcompress-malformed-corpus")
    m.ir_version = IR_VERSION
    return m


def matmul_model(w):
    """X float[1,4] @ w (named w.name) -> Y."""
    return model([helper.make_node("MatMul", ["X", w.name], ["Y"], name="node_mm")], [w])


def valid_model():
    return matmul_model(tensor("W", raw=w_values().tobytes()))


# ------------------------------------------------------------------ writer --

class Corpus:
    def __init__(self, root):
        self.root = root
        self.cases = []     # (case, path, exit, must_mention)
        self.controls = []

    def _path(self, rel):
        p = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        return p

    def write_bytes(self, rel, data):
        with open(self._path(rel), "wb") as f:
            f.write(data)

    def write_model(self, rel, m):
        assert isinstance(m, ModelProto)
        self.write_bytes(rel, m.SerializeToString())

    def case(self, name, rel, mention, exit_code=2):
        assert "\t" not in mention and mention
        self.cases.append((name, rel, exit_code, mention))

    def control(self, name, rel):
        self.controls.append((name, rel, 0, "-"))

    def write_manifests(self):
        for fname, rows in (("cases.tsv", self.cases), ("controls.tsv", self.controls)):
            lines = ["case\tpath\texit\tmust_mention"]
            lines += ["%s\t%s\t%d\t%s" % r for r in rows]
            with open(os.path.join(self.root, fname), "w", newline="\n") as f:
                f.write("\n".join(lines) + "\n")


# ------------------------------------------------------------------- cases --

def build(c):
    good = valid_model()
    good_bytes = good.SerializeToString()
    W = w_values()

    # Controls ---------------------------------------------------------------
    c.write_model("valid.onnx", good)
    c.control("valid", "valid.onnx")
    c.write_bytes("ext_valid/weights.bin", W.tobytes())
    c.write_model("ext_valid/model.onnx", matmul_model(tensor(
        "w_ext_ok", external=[("location", "weights.bin"), ("offset", "0"),
                              ("length", "64")])))
    c.control("ext_valid", "ext_valid/model.onnx")

    # Container / protobuf level --------------------------------------------
    c.write_bytes("empty.onnx", b"")
    c.case("empty", "empty.onnx", "empty.onnx")

    rng = random.Random(20240601)
    c.write_bytes("random.onnx", bytes(rng.getrandbits(8) for _ in range(4096)))
    c.case("random", "random.onnx", "random.onnx")

    c.write_bytes("truncated.onnx", good_bytes[: len(good_bytes) // 2])
    c.case("truncated", "truncated.onnx", "truncated.onnx")

    # A directory where a model file is expected.  Git cannot track an empty
    # folder, so it holds a placeholder file.
    c.write_bytes("folder.onnx/.gitkeep", b"")
    c.case("folder", "folder.onnx", "folder.onnx")

    # ir_version=8, then field 7 (graph, length-delimited) whose length varint
    # claims 1 GiB while only 8 bytes follow.
    lying = bytes([0x08, 0x08, 0x3A]) + bytes([0x80, 0x80, 0x80, 0x80, 0x04]) + b"\x0a\x02ab" + b"\x00" * 4
    c.write_bytes("lying_length.onnx", lying)
    c.case("lying_length", "lying_length.onnx", "lying_length.onnx")

    # A well-formed ModelProto that has no graph at all.
    m = ModelProto()
    m.ir_version = IR_VERSION
    m.opset_import.extend([helper.make_opsetid("", OPSET)])
    c.write_model("no_graph.onnx", m)
    c.case("no_graph", "no_graph.onnx", "graph")

    # Initializer payloads ---------------------------------------------------
    c.write_model("raw_short.onnx", matmul_model(tensor("w_short", raw=W.tobytes()[:40])))
    c.case("raw_short", "raw_short.onnx", "w_short")

    c.write_model("typed_short.onnx", matmul_model(tensor("w_typed_short", floats=[1.0, 2.0, 3.0])))
    c.case("typed_short", "typed_short.onnx", "w_typed_short")

    c.write_model("no_data.onnx", matmul_model(tensor("w_nodata")))
    c.case("no_data", "no_data.onnx", "w_nodata")

    c.write_model("negative_dim.onnx", matmul_model(tensor("w_negdim", dims=(-4, 4), raw=W.tobytes())))
    c.case("negative_dim", "negative_dim.onnx", "w_negdim")

    # Element count overflows int64 (2**120).
    c.write_model("overflow_dims.onnx", matmul_model(
        tensor("w_overflow", dims=(2 ** 40, 2 ** 40, 2 ** 40), raw=b"\x00" * 16)))
    c.case("overflow_dims", "overflow_dims.onnx", "w_overflow")

    # Element count fits int64 (2**62) but the byte size (x4) does not.
    c.write_model("byte_overflow.onnx", matmul_model(
        tensor("w_byte_overflow", dims=(2 ** 31, 2 ** 31), raw=b"\x00" * 16)))
    c.case("byte_overflow", "byte_overflow.onnx", "w_byte_overflow")

    c.write_model("unknown_dtype.onnx", matmul_model(tensor("w_dtype", data_type=99, raw=W.tobytes())))
    c.case("unknown_dtype", "unknown_dtype.onnx", "w_dtype")

    m = matmul_model(tensor("w_dup_init", raw=W.tobytes()))
    m.graph.initializer.extend([tensor("w_dup_init", raw=(W * 2).tobytes())])
    c.write_model("duplicate_initializer.onnx", m)
    c.case("duplicate_initializer", "duplicate_initializer.onnx", "w_dup_init")

    # Graph structure --------------------------------------------------------
    c.write_model("undefined_input.onnx", model(
        [helper.make_node("MatMul", ["X", "ghost"], ["Y"], name="node_undef")]))
    c.case("undefined_input", "undefined_input.onnx", "ghost")

    # node_cycle_a -> ca -> node_cycle_b -> cb -> node_cycle_a; the cycle
    # feeds Y, so it is reachable from the graph output.
    c.write_model("cycle.onnx", model([
        helper.make_node("MatMul", ["X", "W"], ["h"], name="node_mm"),
        helper.make_node("Relu", ["cb"], ["ca"], name="node_cycle_a"),
        helper.make_node("Relu", ["ca"], ["cb"], name="node_cycle_b"),
        helper.make_node("Add", ["h", "cb"], ["Y"], name="node_out"),
    ], [tensor("W", raw=W.tobytes())]))
    c.case("cycle", "cycle.onnx", "cycle")

    c.write_model("duplicate_output.onnx", model([
        helper.make_node("MatMul", ["X", "W"], ["dup_out"], name="node_dup_1"),
        helper.make_node("Relu", ["X"], ["dup_out"], name="node_dup_2"),
        helper.make_node("Add", ["dup_out", "X"], ["Y"], name="node_out"),
    ], [tensor("W", raw=W.tobytes())]))
    c.case("duplicate_output", "duplicate_output.onnx", "dup_out")

    # A node output that redefines an initializer's name (SSA violation).
    c.write_model("shadow_initializer.onnx", model([
        helper.make_node("Relu", ["X"], ["w_shadowed"], name="node_shadow"),
        helper.make_node("MatMul", ["X", "w_shadowed"], ["Y"], name="node_mm"),
    ], [tensor("w_shadowed", raw=W.tobytes())]))
    c.case("shadow_initializer", "shadow_initializer.onnx", "w_shadowed")

    m = valid_model()
    m.graph.output.extend([vi("out_nowhere")])
    c.write_model("output_nowhere.onnx", m)
    c.case("output_nowhere", "output_nowhere.onnx", "out_nowhere")

    # Subgraphs: If whose then-branch reads an undefined tensor.  The
    # else-branch legally reads X from the outer scope, so a loader must
    # resolve outer-scope names rather than reject every free name.
    cond = tensor("cond", data_type=TensorProto.BOOL, dims=(), raw=b"\x01")
    then_g = helper.make_graph(
        [helper.make_node("Identity", ["ghost_in_branch"], ["t_out"], name="node_then")],
        "then_branch", [], [vi("t_out")])
    else_g = helper.make_graph(
        [helper.make_node("Identity", ["X"], ["e_out"], name="node_else")],
        "else_branch", [], [vi("e_out")])
    c.write_model("subgraph_undefined.onnx", model(
        [helper.make_node("If", ["cond"], ["Y"], name="node_if",
                          then_branch=then_g, else_branch=else_g)], [cond]))
    c.case("subgraph_undefined", "subgraph_undefined.onnx", "ghost_in_branch")

    # An attribute declared as GRAPH that carries no graph.
    empty_graph_attr = AttributeProto()
    empty_graph_attr.name = "then_branch"
    empty_graph_attr.type = AttributeProto.GRAPH
    node = helper.make_node("If", ["cond"], ["Y"], name="node_if_nograph", else_branch=else_g)
    node.attribute.insert(0, empty_graph_attr)
    c.write_model("graph_attr_missing.onnx", model([node], [cond]))
    c.case("graph_attr_missing", "graph_attr_missing.onnx", "node_if_nograph")

    # External data (one subfolder per case, data files beside the model) ---
    def ext_case(case, wname, entries, mention, files=()):
        for fname, data in files:
            c.write_bytes("%s/%s" % (case, fname), data)
        c.write_model("%s/model.onnx" % case, matmul_model(tensor(wname, external=entries)))
        c.case(case, "%s/model.onnx" % case, mention)

    ext_case("ext_absolute", "w_ext_abs", [("location", "/etc/passwd")], "w_ext_abs")

    # ../outside.bin really exists (64 bytes, the right size), so a loader
    # that forgets the containment check would silently succeed.
    c.write_bytes("outside.bin", W.tobytes())
    ext_case("ext_escape", "w_ext_escape", [("location", "../outside.bin")], "w_ext_escape")

    ext_case("ext_missing", "w_ext_missing", [("location", "missing.bin")], "missing.bin")

    ext_case("ext_past_end", "w_ext_past_end",
             [("location", "short.bin"), ("offset", "0"), ("length", "64")],
             "w_ext_past_end", files=[("short.bin", W.tobytes()[:16])])

    ext_case("ext_offset_past_end", "w_ext_offset",
             [("location", "short2.bin"), ("offset", "32")],
             "w_ext_offset", files=[("short2.bin", W.tobytes()[:16])])

    # File is big enough, but the declared length (32) is not 4*4*4 bytes.
    ext_case("ext_length_mismatch", "w_ext_len",
             [("location", "data.bin"), ("offset", "0"), ("length", "32")],
             "w_ext_len", files=[("data.bin", W.tobytes())])

    ext_case("ext_negative_offset", "w_ext_negoff",
             [("location", "data.bin"), ("offset", "-16"), ("length", "64")],
             "w_ext_negoff", files=[("data.bin", W.tobytes())])

    ext_case("ext_bad_number", "w_ext_badnum",
             [("location", "data.bin"), ("offset", "0"), ("length", "64abc")],
             "w_ext_badnum", files=[("data.bin", W.tobytes())])

    ext_case("ext_no_location", "w_ext_noloc",
             [("offset", "0"), ("length", "64")],
             "w_ext_noloc", files=[("data.bin", W.tobytes())])

    # Location names a directory (the model's own folder).
    ext_case("ext_directory", "w_ext_dir", [("location", ".")], "w_ext_dir")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else here
    os.makedirs(root, exist_ok=True)
    c = Corpus(root)
    build(c)
    c.write_manifests()
    print("wrote %d cases and %d controls into %s" % (len(c.cases), len(c.controls), root))


if __name__ == "__main__":
    main()
