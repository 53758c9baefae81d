#!/usr/bin/env node
'use strict';
// Median latency of ONNX Runtime on one batch: node tools/bench/ort_time.js MODEL INPUTS.npz RUNS THREADS
// Prints the median in milliseconds (after one warm-up run).
const path = require('node:path');
const npy = require(path.join(__dirname, '..', 'oracle', 'npy'));
const ort = require(path.join(__dirname, '..', 'oracle', 'node_modules', 'onnxruntime-node'));
const fs = require('node:fs');

async function main() {
  const [model, inputs, runs = '20', threads = '2'] = process.argv.slice(2);
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: Number(threads),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const arrays = npy.parseNpz(fs.readFileSync(inputs));
  const feeds = {};
  const names = session.inputNames;
  for (const { name, array } of arrays) {
    const key = names.includes(name) ? name : names[0];
    feeds[key] = new ort.Tensor(array.dtype, array.data, array.shape);
  }
  await session.run(feeds);
  const times = [];
  for (let i = 0; i < Number(runs); i++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  const n = times.length;
  console.log((n % 2 ? times[(n - 1) / 2] : (times[n / 2 - 1] + times[n / 2]) / 2).toFixed(3));
}

main().catch((e) => {
  console.error(`ort_time: ${e.message}`);
  process.exit(2);
});
