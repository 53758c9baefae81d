#!/usr/bin/python3
"""Check that two ONNX models are the same ModelProto once external data is resolved.

usage: /usr/bin/python3 tools/proto_equal.py A.onnx B.onnx [--ignore-constants-moved]
                                             [--raw-encoding]
                                             [--max-diffs N]

Both models are loaded with their external data resolved: every tensor stored externally
(data_location == EXTERNAL) gets its bytes read into raw_data, and its external_data and
data_location fields are cleared (removed, not set to DEFAULT; an explicit DEFAULT is cleared
too, as it means the same as none), so a model and the same model written with external data
compare equal. Tensors are found everywhere: initializers, sparse
initializers, node attributes (t, tensors, sparse_tensor, sparse_tensors) in the main graph, all
subgraphs and all functions.

The two ModelProtos are then compared field by field (proto2 presence included, floats and
doubles bitwise, so NaN == NaN and -0.0 != 0.0) and, as a cross-check, with protobuf message
equality. Exit 0 when equal; otherwise the first differences are printed, one per line, as
field paths such as
    graph.node[12](Conv_3).attribute[0](value).t.raw_data: bytes differ at offset 8 (len 64 vs 64)
    graph.initializer: count differs (A 10, B 11)
and the exit status is 1 (--max-diffs N caps the list, default 10). When a repeated field's
counts differ, the names found on one side only are listed, and element-by-element comparison of
that field stops at the first differing element (past an insertion everything would differ).
Exit 2: bad usage or a model that cannot be loaded (including missing or short external data).

--ignore-constants-moved normalizes both models first, the way
`mcompress convert --constants-to-initializers` rewrites a model: in the main graph and in every
subgraph (recursively), each Constant node (domain "" or "ai.onnx") that has a `value` or
`sparse_value` attribute and whose output is not an output of its own (sub)graph is removed and
its tensor appended, named after the node's output, to that graph's initializers (sparse_value:
to its sparse_initializers, the values tensor taking the name), in node order after the existing
ones. When the model's ir_version is below 4, every constant moved out of the main graph also
gets a main-graph input ValueInfo (elem type and dims) appended.

--raw-encoding canonicalizes both models' dense tensors (in initializers, sparse initializers and
attributes, everywhere) to raw_data: values held in the typed fields (float_data, int32_data, ...)
are converted with onnx.numpy_helper and moved into raw_data. Writing external data necessarily
stores bytes raw, so comparisons across `--external-data` use it; string tensors are left alone.
"""

import argparse
import os
import struct
import sys

import onnx
from google.protobuf.descriptor import FieldDescriptor
from onnx import AttributeProto, TensorProto

DEFAULT_DOMAINS = ("", "ai.onnx")


class LoadError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Tensor discovery and external data


def graph_tensors(g):
    """Yield every TensorProto held in graph g and its subgraphs (recursively)."""
    for t in g.initializer:
        yield t
    for s in g.sparse_initializer:
        yield s.values
        yield s.indices
    for node in g.node:
        yield from node_tensors(node)


def node_tensors(node):
    for a in node.attribute:
        if a.HasField("t"):
            yield a.t
        for t in a.tensors:
            yield t
        if a.HasField("sparse_tensor"):
            yield a.sparse_tensor.values
            yield a.sparse_tensor.indices
        for s in a.sparse_tensors:
            yield s.values
            yield s.indices
        if a.HasField("g"):
            yield from graph_tensors(a.g)
        for sg in a.graphs:
            yield from graph_tensors(sg)


def model_tensors(model):
    yield from graph_tensors(model.graph)
    for f in model.functions:
        for node in f.node:
            yield from node_tensors(node)


def resolve_external_data(model, base_dir, path):
    for t in model_tensors(model):
        # data_location DEFAULT means the same as no data_location: where bytes are stored is
        # not part of the model, so an explicit DEFAULT is dropped too.
        if t.HasField("data_location") and t.data_location == TensorProto.DEFAULT:
            t.ClearField("data_location")
        if not (t.HasField("data_location") and t.data_location == TensorProto.EXTERNAL):
            continue
        info = {e.key: e.value for e in t.external_data}
        location = info.get("location")
        if not location:
            raise LoadError("%s: tensor %r is external but has no location" % (path, t.name))
        file_path = os.path.join(base_dir, location)
        offset = int(info.get("offset", "0") or 0)
        length = info.get("length")
        try:
            with open(file_path, "rb") as f:
                f.seek(offset)
                data = f.read(int(length)) if length else f.read()
        except OSError as e:
            raise LoadError("%s: tensor %r: cannot read external data: %s" % (path, t.name, e))
        if length and len(data) != int(length):
            raise LoadError("%s: tensor %r: external data %s is short (%d of %s bytes at %d)"
                            % (path, t.name, file_path, len(data), length, offset))
        t.raw_data = data
        t.ClearField("external_data")
        t.ClearField("data_location")


def load_model(path):
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as e:  # noqa: BLE001
        raise LoadError("cannot load %s: %s" % (path, e))
    resolve_external_data(model, os.path.dirname(os.path.abspath(path)), path)
    return model


# ---------------------------------------------------------------------------------------------
# --ignore-constants-moved normalization


def constant_payload(node):
    """('dense', TensorProto) / ('sparse', SparseTensorProto) / None for a movable Constant."""
    if node.op_type != "Constant" or node.domain not in DEFAULT_DOMAINS:
        return None
    if len(node.output) != 1 or not node.output[0]:
        return None
    for a in node.attribute:
        if a.name == "value" and a.type == AttributeProto.TENSOR:
            return ("dense", a.t)
        if a.name == "sparse_value" and a.type == AttributeProto.SPARSE_TENSOR:
            return ("sparse", a.sparse_tensor)
    return None


def move_constants(g, moved):
    """Move g's movable Constants into its initializers; recurse into subgraphs.

    Appends (name, elem_type, dims) of each constant moved out of g itself to `moved`.
    """
    graph_outputs = {o.name for o in g.output}
    removed = []
    for i, node in enumerate(g.node):
        payload = constant_payload(node)
        if payload is None or node.output[0] in graph_outputs:
            continue
        kind, tensor = payload
        name = node.output[0]
        if kind == "dense":
            t = g.initializer.add()
            t.CopyFrom(tensor)
            t.name = name
            moved.append((name, t.data_type, list(t.dims)))
        else:
            s = g.sparse_initializer.add()
            s.CopyFrom(tensor)
            s.values.name = name
            moved.append((name, s.values.data_type, list(s.dims)))
        removed.append(i)
    for i in reversed(removed):
        del g.node[i]
    for node in g.node:
        for a in node.attribute:
            if a.HasField("g"):
                move_constants(a.g, [])
            for sg in a.graphs:
                move_constants(sg, [])


def normalize_constants(model):
    moved = []
    move_constants(model.graph, moved)
    if model.ir_version < 4:
        for name, elem_type, dims in moved:
            vi = model.graph.input.add()
            vi.name = name
            tt = vi.type.tensor_type
            tt.elem_type = elem_type
            tt.shape.SetInParent()  # a scalar still has a (rank-0) shape
            for d in dims:
                tt.shape.dim.add().dim_value = d


# ---------------------------------------------------------------------------------------------
# Field-by-field comparison


class Differ:
    def __init__(self, max_diffs):
        self.max_diffs = max_diffs
        self.diffs = []

    def full(self):
        return len(self.diffs) >= self.max_diffs

    def add(self, path, what):
        if not self.full():
            self.diffs.append("%s: %s" % (path, what))

    @staticmethod
    def label(msg):
        # Show a message's name (node, attribute, tensor, value info, ...) next to its index.
        d = msg.DESCRIPTOR
        if "name" in d.fields_by_name and d.fields_by_name["name"].type == FieldDescriptor.TYPE_STRING:
            if msg.name:
                return "(%s)" % msg.name
        if d.name == "OperatorSetIdProto":
            return "(%s)" % (msg.domain or "ai.onnx")
        if d.name == "StringStringEntryProto":
            return "(%s)" % msg.key
        return ""

    @staticmethod
    def name_summary(fd, va, vb):
        """For repeated named messages: which names only one side has (first few)."""
        if fd.type != FieldDescriptor.TYPE_MESSAGE:
            return ""
        fields = fd.message_type.fields_by_name
        if "name" in fields:
            key = lambda m: m.name  # noqa: E731
        elif fd.message_type.name == "SparseTensorProto":
            key = lambda m: m.values.name  # noqa: E731
        else:
            return ""
        na = [key(m) for m in va]
        nb = [key(m) for m in vb]
        sa, sb = set(na), set(nb)
        only_a = [n for n in na if n and n not in sb]
        only_b = [n for n in nb if n and n not in sa]
        out = ""
        for side, names in (("A", only_a), ("B", only_b)):
            if names:
                shown = ", ".join(repr(n) for n in names[:5])
                more = " +%d more" % (len(names) - 5) if len(names) > 5 else ""
                out += "; only in %s: %s%s" % (side, shown, more)
        return out

    def scalar_equal(self, fd, a, b):
        if fd.type == FieldDescriptor.TYPE_FLOAT:
            return struct.pack("<f", a) == struct.pack("<f", b)
        if fd.type == FieldDescriptor.TYPE_DOUBLE:
            return struct.pack("<d", a) == struct.pack("<d", b)
        return a == b

    @staticmethod
    def show(v):
        s = repr(v)
        return s if len(s) <= 80 else s[:77] + "..."

    def scalar_diff(self, path, fd, a, b):
        if fd.type == FieldDescriptor.TYPE_BYTES:
            n = min(len(a), len(b))
            off = next((i for i in range(n) if a[i] != b[i]), n)
            self.add(path, "bytes differ at offset %d (len %d vs %d)" % (off, len(a), len(b)))
        else:
            self.add(path, "%s vs %s" % (self.show(a), self.show(b)))

    def compare(self, a, b, path):
        if self.full():
            return
        for fd in a.DESCRIPTOR.fields:
            if self.full():
                return
            fpath = path + ("." if path else "") + fd.name
            va = getattr(a, fd.name)
            vb = getattr(b, fd.name)
            if fd.label == FieldDescriptor.LABEL_REPEATED:
                count_differs = len(va) != len(vb)
                if count_differs:
                    self.add(fpath, "count differs (A %d, B %d)%s"
                             % (len(va), len(vb), self.name_summary(fd, va, vb)))
                if fd.type == FieldDescriptor.TYPE_MESSAGE:
                    for i in range(min(len(va), len(vb))):
                        before = len(self.diffs)
                        self.compare(va[i], vb[i], "%s[%d]%s" % (fpath, i, self.label(va[i])))
                        if self.full():
                            return
                        if count_differs and len(self.diffs) > before:
                            break  # past an insertion/deletion the rest would be noise
                else:
                    n = min(len(va), len(vb))
                    for i in range(n):
                        if not self.scalar_equal(fd, va[i], vb[i]):
                            self.add("%s[%d]" % (fpath, i),
                                     "%s vs %s" % (self.show(va[i]), self.show(vb[i])))
                            break
                continue
            ha, hb = a.HasField(fd.name), b.HasField(fd.name)
            if ha != hb:
                shown = va if ha else vb
                if fd.type == FieldDescriptor.TYPE_MESSAGE:
                    shown = "<%s>" % fd.message_type.name
                elif fd.type == FieldDescriptor.TYPE_BYTES:
                    shown = "<%d bytes>" % len(shown)
                else:
                    shown = self.show(shown)
                self.add(fpath, "set only in %s (%s)" % ("A" if ha else "B", shown))
                continue
            if not ha:
                continue
            if fd.type == FieldDescriptor.TYPE_MESSAGE:
                self.compare(va, vb, fpath)
            elif not self.scalar_equal(fd, va, vb):
                self.scalar_diff(fpath, fd, va, vb)
        self.compare_unknown(a, b, path)

    def compare_unknown(self, a, b, path):
        try:
            ua = sorted((f.field_number, f.wire_type, bytes(f.data) if isinstance(f.data, (bytes, bytearray)) else repr(f.data))
                        for f in a.UnknownFields())
            ub = sorted((f.field_number, f.wire_type, bytes(f.data) if isinstance(f.data, (bytes, bytearray)) else repr(f.data))
                        for f in b.UnknownFields())
        except Exception:  # noqa: BLE001 - API missing in this protobuf build
            return
        if ua != ub:
            self.add(path or "<model>", "unknown fields differ (A %d, B %d)" % (len(ua), len(ub)))


def canonicalize_raw(model):
    from onnx import numpy_helper
    for t in model_tensors(model):
        if t.data_type == TensorProto.STRING or t.HasField("raw_data"):
            continue
        array = numpy_helper.to_array(t)
        for field in ("float_data", "int32_data", "int64_data", "double_data", "uint64_data"):
            t.ClearField(field)
        t.raw_data = array.tobytes()


def main(argv=None):
    ap = argparse.ArgumentParser(description="Compare two ONNX ModelProtos (external data resolved).")
    ap.add_argument("a", metavar="A.onnx")
    ap.add_argument("b", metavar="B.onnx")
    ap.add_argument("--ignore-constants-moved", action="store_true",
                    help="move Constant-node tensors to initializers in both models first")
    ap.add_argument("--raw-encoding", action="store_true",
                    help="move typed-field tensor data into raw_data in both models first")
    ap.add_argument("--max-diffs", type=int, default=10, help="differences to print (default 10)")
    args = ap.parse_args(argv)

    try:
        ma = load_model(args.a)
        mb = load_model(args.b)
    except LoadError as e:
        print("proto_equal: %s" % e, file=sys.stderr)
        return 2

    if args.ignore_constants_moved:
        normalize_constants(ma)
        normalize_constants(mb)
    if args.raw_encoding:
        canonicalize_raw(ma)
        canonicalize_raw(mb)

    differ = Differ(max(1, args.max_diffs))
    differ.compare(ma, mb, "")
    if not differ.diffs and not (ma == mb):
        # Bitwise-equal floats that protobuf calls unequal (NaN payloads) are fine; anything
        # else is a difference the walker could not locate.
        if ma.SerializeToString(deterministic=True) != mb.SerializeToString(deterministic=True):
            differ.add("<model>", "protobuf equality fails but no field difference was located")

    if differ.diffs:
        print("proto_equal: %s and %s differ%s:" % (
            args.a, args.b, " (after moving constants)" if args.ignore_constants_moved else ""))
        for d in differ.diffs:
            print("  " + d)
        if differ.full():
            print("  ... (stopped after %d differences)" % differ.max_diffs)
        return 1
    print("proto_equal: equal")
    return 0


if __name__ == "__main__":
    sys.exit(main())
