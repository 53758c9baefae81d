#!/usr/bin/env node
'use strict';
// Self test for npy.js: node tools/oracle/selftest.js
//   1. in-process round trips of every dtype (0-d, empty, 1-d, 2-d), npy and npz, plus error cases;
//   2. interop with NumPy (/usr/bin/python3, or $PYTHON): NumPy loads and checks what we write, then writes
//      deflated npz (with and without data descriptors), .npy v2.0/v3.0 and fortran-order files for us to read.
//   3. ort_run.js end to end on a generated Identity model covering every dtype (0-d included).
// Exits 1 on any failure. Parts 2 and 3 are skipped (with a note) only if python3 with numpy/onnx, or
// onnxruntime-node, is missing.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const npy = require('./npy');

let failures = 0;
let checks = 0;
function check(cond, what) {
  checks++;
  if (!cond) {
    failures++;
    console.error(`FAIL: ${what}`);
  }
}
function expectThrow(fn, re, what) {
  checks++;
  try {
    fn();
  } catch (e) {
    if (re.test(e.message)) return;
    failures++;
    console.error(`FAIL: ${what}: wrong error: ${e.message}`);
    return;
  }
  failures++;
  console.error(`FAIL: ${what}: no error`);
}

// Deterministic test values; the Python side recomputes the same formulas.
function makeArray(dtype, shape) {
  const n = npy.numel(shape);
  const { ctor } = npy.DTYPES[dtype];
  const data = new ctor(n);
  for (let k = 0; k < n; k++) {
    switch (dtype) {
      case 'float32':
      case 'float64':
        data[k] = k * 0.5 - 1.25;
        break;
      case 'float16':
        data[k] = 0x3c00 + k; // 0x3c00 == 1.0
        break;
      case 'bool':
        data[k] = k % 3 === 0 ? 1 : 0;
        break;
      case 'int64':
        data[k] = BigInt(((k * 7) % 11) - 5);
        break;
      case 'uint64':
        data[k] = BigInt((k * 7) % 11);
        break;
      default:
        data[k] = npy.DTYPES[dtype].kind === 'i' ? ((k * 7) % 11) - 5 : (k * 7) % 11;
    }
  }
  return { dtype, shape, data };
}

function sameArray(a, b) {
  if (a.dtype !== b.dtype) return false;
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) return false;
  if (a.data.constructor !== b.data.constructor || a.data.length !== b.data.length) return false;
  for (let i = 0; i < a.data.length; i++) {
    const x = a.data[i];
    const y = b.data[i];
    if (!(x === y || (typeof x === 'number' && Number.isNaN(x) && Number.isNaN(y)))) return false;
  }
  return true;
}

const SHAPES = [[], [0], [5], [2, 3], [2, 1, 3]];
const DTYPE_NAMES = Object.keys(npy.DTYPES);

function allCases() {
  const entries = [];
  for (const dt of DTYPE_NAMES) {
    SHAPES.forEach((s, i) => entries.push({ name: `${dt}_s${i}`, array: makeArray(dt, s) }));
  }
  entries.push({ name: 'i64_extremes', array: { dtype: 'int64', shape: [3], data: BigInt64Array.from([-(2n ** 63n), 2n ** 63n - 1n, 16000n]) } });
  entries.push({ name: 'u64_extremes', array: { dtype: 'uint64', shape: [2], data: BigUint64Array.from([0n, 2n ** 64n - 1n]) } });
  entries.push({ name: 'f32_special', array: { dtype: 'float32', shape: [4], data: Float32Array.from([NaN, Infinity, -Infinity, -0]) } });
  entries.push({ name: 'sr', array: { dtype: 'int64', shape: [], data: BigInt64Array.from([16000n]) } });
  return entries;
}

// ---------------------------------------------------------------------------------------------
// 1. in-process

function inProcess() {
  const entries = allCases();
  for (const { name, array } of entries) {
    const bytes = npy.encodeNpy(array);
    check(bytes.readUInt16LE(8) + 10 === bytes.length - npy.numel(array.shape) * npy.DTYPES[array.dtype].size, `${name}: header length`);
    check((bytes.readUInt16LE(8) + 10) % 64 === 0, `${name}: data 64-byte aligned`);
    check(sameArray(npy.parseNpy(bytes), array), `${name}: npy round trip`);
  }
  const z = npy.encodeNpz(entries);
  const back = npy.parseNpz(z);
  check(back.length === entries.length, 'npz member count');
  back.forEach((e, i) => {
    check(e.name === entries[i].name, `npz member order ${i}`);
    check(sameArray(e.array, entries[i].array), `npz round trip ${e.name}`);
  });
  check(npy.encodeNpz(entries).equals(z), 'npz output is deterministic');
  check(npy.crc32(Buffer.from('123456789')) === 0xcbf43926, 'crc32 check value');

  // Header text variants numpy or other writers may produce.
  const hdr = (dict, body) => {
    const total = Math.ceil((10 + dict.length + 1) / 64) * 64;
    const h = Buffer.alloc(total, 0x20);
    Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(h);
    h.writeUInt16LE(total - 10, 8);
    h.write(dict, 10, 'latin1');
    h[total - 1] = 0x0a;
    return Buffer.concat([h, body]);
  };
  const i4 = Buffer.from(new Int32Array([1, -2, 3]).buffer);
  const r = npy.parseNpy(hdr("{'shape': (3L,), 'fortran_order': False, 'descr': '<i4'}", i4));
  check(r.dtype === 'int32' && r.shape.length === 1 && r.shape[0] === 3 && r.data[1] === -2, 'key order / long suffix');

  // Error cases.
  expectThrow(() => npy.parseNpy(hdr("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", Buffer.alloc(16))), /fortran_order True/, 'fortran order rejected');
  expectThrow(() => npy.parseNpy(hdr("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", Buffer.alloc(8))), /big-endian/, 'big endian rejected');
  expectThrow(() => npy.parseNpy(hdr("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", Buffer.alloc(16))), /unsupported dtype/, 'complex rejected');
  expectThrow(() => npy.parseNpy(hdr("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", Buffer.alloc(16))), /unsupported dtype/, 'object rejected');
  expectThrow(() => npy.parseNpy(hdr("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", Buffer.alloc(8))), /structured/, 'structured rejected');
  expectThrow(() => npy.parseNpy(hdr("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", Buffer.alloc(8))), /truncated/, 'truncated data');
  expectThrow(() => npy.parseNpy(Buffer.from('hello world')), /bad magic/, 'bad magic');
  const corrupt = Buffer.from(z);
  corrupt[30 + z.readUInt16LE(26) + 20] ^= 0xff; // inside the first member's .npy header
  expectThrow(() => npy.parseNpz(corrupt), /CRC-32 mismatch/, 'npz CRC checked');
  expectThrow(() => npy.parseNpz(z.subarray(0, z.length - 30)), /end of central directory/, 'truncated npz');
  expectThrow(() => npy.encodeNpy({ dtype: 'float32', shape: [2], data: new Float64Array(2) }), /must be a Float32Array/, 'wrong typed array');
  expectThrow(() => npy.encodeNpy({ dtype: 'float32', shape: [3], data: new Float32Array(2) }), /needs 3/, 'wrong element count');
}

// ---------------------------------------------------------------------------------------------
// 2. NumPy interop

const PY = String.raw`
import io, json, sys, zipfile
import numpy as np
d = sys.argv[1]
spec = json.load(open(d + "/spec.json"))

def expected(dtype, shape):
    n = int(np.prod(shape, dtype=np.int64))
    k = np.arange(n, dtype=np.int64)
    if dtype in ("float32", "float64"):
        v = (k * 0.5 - 1.25).astype(dtype)
    elif dtype == "float16":
        v = (0x3C00 + k).astype(np.uint16).view(np.float16)
    elif dtype == "bool":
        v = (k % 3 == 0)
    elif dtype.startswith("int"):
        v = ((k * 7) % 11 - 5).astype(dtype)
    else:
        v = ((k * 7) % 11).astype(dtype)
    return v.reshape(shape)

special = {
    "i64_extremes": np.array([-2**63, 2**63 - 1, 16000], dtype=np.int64),
    "u64_extremes": np.array([0, 2**64 - 1], dtype=np.uint64),
    "f32_special": np.array([np.nan, np.inf, -np.inf, -0.0], dtype=np.float32),
    "sr": np.array(16000, dtype=np.int64),
}

z = np.load(d + "/js.npz")
assert list(z.files) == [e["name"] for e in spec], (list(z.files), [e["name"] for e in spec])
arrays = {}
for e in spec:
    a = z[e["name"]]
    want = special.get(e["name"])
    if want is None:
        want = expected(e["dtype"], tuple(e["shape"]))
    assert a.dtype == want.dtype, (e["name"], a.dtype, want.dtype)
    assert a.shape == want.shape, (e["name"], a.shape, want.shape)
    assert np.array_equal(a.view(np.uint8) if a.ndim else a.reshape(1).view(np.uint8),
                          want.view(np.uint8) if want.ndim else want.reshape(1).view(np.uint8)), e["name"]
    arrays[e["name"]] = a
assert np.float16(z["float16_s2"][0]) == 1.0
assert z["sr"].shape == () and int(z["sr"]) == 16000

# Deflated npz written by numpy (zip64 extras in local headers).
np.savez_compressed(d + "/np_deflated.npz", **arrays)
# Deflated zip with data descriptors (written to an unseekable stream).
class Unseekable(io.RawIOBase):
    def __init__(self, f): self.f = f
    def writable(self): return True
    def write(self, b): return self.f.write(b)
with open(d + "/np_descriptors.npz", "wb") as raw:
    with zipfile.ZipFile(Unseekable(raw), "w", zipfile.ZIP_DEFLATED) as zf:
        for name, a in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, a)
            zf.writestr(name + ".npy", buf.getvalue())
# Format versions 2.0 and 3.0, and a Fortran-ordered array.
for ver in ((2, 0), (3, 0)):
    with open(d + "/v%d.npy" % ver[0], "wb") as f:
        np.lib.format.write_array(f, arrays["float32_s3"], version=ver)
np.save(d + "/fortran.npy", np.asfortranarray(arrays["float32_s3"]))
print("numpy", np.__version__, "ok")
`;

function findPython() {
  const cands = [process.env.PYTHON, '/usr/bin/python3', 'python3'].filter(Boolean);
  for (const c of cands) {
    const r = spawnSync(c, ['-c', 'import numpy'], { encoding: 'utf8' });
    if (r.status === 0) return c;
  }
  return null;
}

function numpyInterop() {
  const py = findPython();
  if (!py) {
    console.log('note: no python3 with numpy found; NumPy interop tests skipped');
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'npy-selftest-'));
  try {
    const entries = allCases();
    fs.writeFileSync(path.join(dir, 'js.npz'), npy.encodeNpz(entries));
    fs.writeFileSync(path.join(dir, 'spec.json'), JSON.stringify(entries.map((e) => ({ name: e.name, dtype: e.array.dtype, shape: e.array.shape }))));
    const r = spawnSync(py, ['-c', PY, dir], { encoding: 'utf8' });
    checks++;
    if (r.status !== 0) {
      failures++;
      console.error(`FAIL: numpy side (${py}):\n${r.stdout}${r.stderr}`);
      return;
    }
    for (const f of ['np_deflated.npz', 'np_descriptors.npz']) {
      const buf = fs.readFileSync(path.join(dir, f));
      let back;
      try {
        back = npy.parseNpz(buf);
      } catch (e) {
        check(false, `${f}: ${e.message}`);
        continue;
      }
      check(back.length === entries.length, `${f}: member count`);
      const byName = new Map(back.map((e) => [e.name, e.array]));
      for (const e of entries) check(byName.has(e.name) && sameArray(byName.get(e.name), e.array), `${f}: ${e.name}`);
    }
    const want = entries.find((e) => e.name === 'float32_s3').array;
    for (const f of ['v2.npy', 'v3.npy']) {
      const buf = fs.readFileSync(path.join(dir, f));
      check(buf[6] === Number(f[1]), `${f}: numpy wrote version ${f[1]}`);
      check(sameArray(npy.parseNpy(buf), want), `${f}: read`);
    }
    expectThrow(() => npy.parseNpy(fs.readFileSync(path.join(dir, 'fortran.npy'))), /fortran_order True/, 'numpy fortran array rejected');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// 3. ort_run.js end to end: an Identity model over every dtype (needs onnxruntime-node and python onnx)

const PY_MODEL = String.raw`
import sys, json
import onnx
from onnx import helper, TensorProto as T
spec = json.loads(sys.argv[2])
m = {"float16": T.FLOAT16, "float32": T.FLOAT, "float64": T.DOUBLE, "int8": T.INT8, "uint8": T.UINT8,
     "int16": T.INT16, "uint16": T.UINT16, "int32": T.INT32, "uint32": T.UINT32, "int64": T.INT64,
     "uint64": T.UINT64, "bool": T.BOOL}
ins, outs, nodes = [], [], []
for e in spec:
    ins.append(helper.make_tensor_value_info(e["name"], m[e["dtype"]], e["shape"]))
    outs.append(helper.make_tensor_value_info("out_" + e["name"], m[e["dtype"]], e["shape"]))
    nodes.append(helper.make_node("Identity", [e["name"]], ["out_" + e["name"]]))
outs.reverse()  # output order differs from input order on purpose
g = helper.make_graph(nodes, "identity_all", ins, outs)
model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
model.ir_version = 7
onnx.checker.check_model(model)
onnx.save(model, sys.argv[1])
`;

function ortEndToEnd() {
  try {
    require.resolve('onnxruntime-node');
  } catch (_) {
    console.log('note: onnxruntime-node not installed; ort_run.js tests skipped');
    return;
  }
  const py = findPython();
  if (!py || spawnSync(py, ['-c', 'import onnx'], { encoding: 'utf8' }).status !== 0) {
    console.log('note: no python3 with onnx found; ort_run.js tests skipped');
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ort-selftest-'));
  try {
    const entries = allCases().filter((e) => !e.array.shape.includes(0));
    const spec = entries.map((e) => ({ name: e.name, dtype: e.array.dtype, shape: e.array.shape }));
    const model = path.join(dir, 'identity.onnx');
    const r = spawnSync(py, ['-c', PY_MODEL, model, JSON.stringify(spec)], { encoding: 'utf8' });
    checks++;
    if (r.status !== 0) {
      failures++;
      console.error(`FAIL: building identity model:\n${r.stdout}${r.stderr}`);
      return;
    }
    const inNpz = path.join(dir, 'in.npz');
    const outNpz = path.join(dir, 'out.npz');
    fs.writeFileSync(inNpz, npy.encodeNpz(entries));
    const run = (args) => spawnSync(process.execPath, [path.join(__dirname, 'ort_run.js'), ...args], { encoding: 'utf8' });
    let p = run([model, inNpz, outNpz]);
    check(p.status === 0, `ort_run identity model: rc ${p.status} ${p.stderr}`);
    if (p.status === 0) {
      const back = npy.parseNpz(fs.readFileSync(outNpz));
      const want = entries.slice().reverse();
      check(back.length === want.length, 'ort_run: output count');
      back.forEach((e, i) => {
        check(e.name === `out_${want[i].name}`, `ort_run: output order ${i}: ${e.name}`);
        check(sameArray(e.array, want[i].array), `ort_run: output ${e.name} equals input`);
      });
    }
    // Errors: exit 2 with a one-line message naming the file.
    const bad = path.join(dir, 'bad.npz');
    fs.writeFileSync(bad, npy.encodeNpz(entries.slice(1)));
    p = run([model, bad, outNpz]);
    check(p.status === 2 && p.stderr.includes(bad) && p.stderr.trim().split('\n').length === 1, `ort_run missing input: rc ${p.status} ${p.stderr}`);
    p = run([path.join(dir, 'missing.onnx'), inNpz, outNpz]);
    check(p.status === 2 && p.stderr.includes('missing.onnx'), `ort_run missing model: rc ${p.status} ${p.stderr}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

inProcess();
numpyInterop();
ortEndToEnd();
if (failures) {
  console.error(`selftest: ${failures} of ${checks} checks failed`);
  process.exit(1);
}
console.log(`selftest: all ${checks} checks passed`);
