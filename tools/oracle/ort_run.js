#!/usr/bin/env node
'use strict';
// Reference runner: executes an ONNX model in ONNX Runtime (onnxruntime-node, CPU EP) and saves its outputs.
//
// usage: node tools/oracle/ort_run.js MODEL.onnx INPUTS.npz|INPUT.npy OUTPUTS.npz
//                                     [--threads N] [--optimization disabled|basic|extended|all]
//
// Each INPUTS.npz member "x.npy" feeds model input "x". If the npz holds exactly one array and the model has
// exactly one input, that array is fed whatever its name. A single .npy is accepted for one-input models.
// Every model output is written to OUTPUTS.npz as "<output name>.npy", in the model's output order.
// Defaults: 1 intra-op thread, 1 inter-op thread, sequential execution, graph optimization level "all".
// Exit status: 0 on success, 2 on any error (one line on stderr), naming the file concerned.

const fs = require('node:fs');
const path = require('node:path');
const npy = require('./npy');

const USAGE =
  'usage: node ort_run.js MODEL.onnx INPUTS.npz|INPUT.npy OUTPUTS.npz [--threads N] [--optimization disabled|basic|extended|all]';
const OPT_LEVELS = ['disabled', 'basic', 'extended', 'all'];

class RunError extends Error {}

function oneLine(s) {
  return String(s).replace(/\s*\n\s*/g, ' | ').trim();
}

function fail(msg) {
  process.stderr.write(`ort_run: error: ${oneLine(msg)}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const pos = [];
  const opts = { threads: 1, optimization: 'all' };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let val;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) {
      val = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    const takeValue = () => {
      if (val !== undefined) return val;
      if (i + 1 >= argv.length) throw new RunError(`${a} needs a value; ${USAGE}`);
      return argv[++i];
    };
    if (a === '--threads') {
      const v = takeValue();
      if (!/^\d+$/.test(v) || Number(v) < 1) throw new RunError(`--threads must be a positive integer, got '${v}'`);
      opts.threads = Number(v);
    } else if (a === '--optimization') {
      const v = takeValue();
      if (!OPT_LEVELS.includes(v)) throw new RunError(`--optimization must be one of ${OPT_LEVELS.join('|')}, got '${v}'`);
      opts.optimization = v;
    } else if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE + '\n');
      process.exit(0);
    } else if (a.startsWith('--')) {
      throw new RunError(`unknown option '${a}'; ${USAGE}`);
    } else {
      pos.push(a);
    }
  }
  if (pos.length !== 3) throw new RunError(`expected 3 positional arguments, got ${pos.length}; ${USAGE}`);
  [opts.model, opts.inputs, opts.outputs] = pos;
  return opts;
}

function readInputs(file) {
  let buf;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new RunError(`${file}: cannot read inputs: ${e.message}`);
  }
  try {
    if (npy.isNpy(buf)) return { single: true, entries: [{ name: null, array: npy.parseNpy(buf) }] };
    if (npy.isZip(buf) || /\.npz$/i.test(file)) return { single: false, entries: npy.parseNpz(buf) };
  } catch (e) {
    throw new RunError(`${file}: ${e.message}`);
  }
  throw new RunError(`${file}: not a .npy or .npz file`);
}

function shapeStr(s) {
  return `[${s.join(',')}]`;
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    fail(e.message);
  }

  if (!fs.existsSync(opts.model)) fail(`${opts.model}: model file not found`);
  const inputs = readInputs(opts.inputs);

  let ort;
  try {
    ort = require('onnxruntime-node');
  } catch (e) {
    fail(`cannot load onnxruntime-node (run 'npm install --ignore-scripts' in ${__dirname}): ${e.message}`);
  }

  let session;
  try {
    session = await ort.InferenceSession.create(opts.model, {
      executionProviders: ['cpu'],
      intraOpNumThreads: opts.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: opts.optimization,
      logSeverityLevel: 3,
    });
  } catch (e) {
    fail(`${opts.model}: cannot load model in ONNX Runtime: ${e.message}`);
  }

  const inputNames = session.inputNames;
  const meta = new Map();
  for (const m of session.inputMetadata || []) meta.set(m.name, m);

  // Match arrays to model inputs.
  const feedsArrays = new Map();
  const entries = inputs.entries;
  if (entries.length === 1 && inputNames.length === 1) {
    feedsArrays.set(inputNames[0], entries[0].array);
  } else if (inputs.single) {
    fail(`${opts.inputs}: a single .npy can only feed a one-input model, but ${opts.model} has ${inputNames.length} inputs (${inputNames.join(', ')})`);
  } else {
    for (const { name, array } of entries) {
      if (!inputNames.includes(name)) {
        fail(`${opts.inputs}: array '${name}' does not match any input of ${opts.model} (inputs: ${inputNames.join(', ')})`);
      }
      feedsArrays.set(name, array);
    }
    const missing = inputNames.filter((n) => !feedsArrays.has(n));
    if (missing.length) fail(`${opts.inputs}: no array for model input(s) ${missing.join(', ')} of ${opts.model}`);
  }

  const feeds = {};
  for (const [name, arr] of feedsArrays) {
    const m = meta.get(name);
    if (m && m.isTensor && m.type && m.type !== arr.dtype) {
      fail(`${opts.inputs}: array for input '${name}' is ${arr.dtype}${shapeStr(arr.shape)} but ${opts.model} expects ${m.type}`);
    }
    if (m && m.isTensor && Array.isArray(m.shape)) {
      const ms = m.shape;
      const ok = ms.length === arr.shape.length && ms.every((d, i) => typeof d !== 'number' || d < 0 || d === arr.shape[i]);
      if (!ok) {
        const want = `[${ms.map((d) => (typeof d === 'number' && d >= 0 ? d : `?${d}`)).join(',')}]`;
        fail(`${opts.inputs}: array for input '${name}' has shape ${shapeStr(arr.shape)} but ${opts.model} expects ${want}`);
      }
    }
    try {
      feeds[name] = new ort.Tensor(arr.dtype, arr.data, arr.shape);
    } catch (e) {
      fail(`${opts.inputs}: cannot make a tensor for input '${name}': ${e.message}`);
    }
  }

  let results;
  try {
    results = await session.run(feeds);
  } catch (e) {
    fail(`${opts.model}: inference failed: ${e.message}`);
  }

  const out = [];
  for (const name of session.outputNames) {
    const t = results[name];
    if (!t || typeof t.type !== 'string' || !t.dims) fail(`${opts.model}: output '${name}' is not a tensor`);
    if (!npy.DTYPES[t.type]) fail(`${opts.model}: output '${name}' has unsupported type ${t.type}`);
    let data = t.data;
    if (t.type === 'float16' && !(data instanceof Uint16Array)) {
      // Float16Array (if the runtime has it): keep the raw half-precision bits.
      data = new Uint16Array(data.buffer, data.byteOffset, data.length);
    } else if (t.type === 'bool' && !(data instanceof Uint8Array)) {
      data = Uint8Array.from(data, (v) => (v ? 1 : 0));
    }
    out.push({ name, array: { dtype: t.type, shape: Array.from(t.dims, Number), data } });
  }

  let bytes;
  try {
    bytes = npy.encodeNpz(out);
  } catch (e) {
    fail(`${opts.outputs}: cannot encode outputs: ${e.message}`);
  }
  const tmp = path.join(path.dirname(path.resolve(opts.outputs)), `.${path.basename(opts.outputs)}.tmp-${process.pid}`);
  try {
    fs.writeFileSync(tmp, bytes);
    fs.renameSync(tmp, opts.outputs);
  } catch (e) {
    try {
      fs.unlinkSync(tmp);
    } catch (_) {
      /* ignore */
    }
    fail(`${opts.outputs}: cannot write outputs: ${e.message}`);
  }
  try {
    await session.release();
  } catch (_) {
    /* ignore */
  }
}

main().catch((e) => fail(e && e.message ? e.message : String(e)));
