#!/usr/bin/env bash
# Structured pruning's speed-up in ONNX Runtime: the bundled CNN before and after
# `mcompress prune --method channel` (L1, 50% of the channels of every Conv/Gemm but the last),
# median latency of one batch (2 threads, after a warm-up), and the N:M / magnitude models for
# contrast (zeros in dense weights: no faster on a CPU).
#
#   tools/bench/bench_prune.sh [RUNS]      (default 50)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/tools/bench/common.sh"
bench_setup
RUNS=${1:-50}
SPARSITY=${SPARSITY:-0.5}
DIR=$WORK

MODEL="$ROOT/models/fashion_cnn.onnx"
fashion_inputs "$DIR/in.npz"
"$MC" prune "$MODEL" -o "$DIR/channel.onnx" --method channel --sparsity "$SPARSITY" --criterion l1 -q
"$MC" prune "$MODEL" -o "$DIR/nm24.onnx" --method nm --nm 2:4 -q
"$MC" prune "$MODEL" -o "$DIR/magnitude90.onnx" --method magnitude --scope global --sparsity 0.9 -q

base=$(ort_ms "$MODEL" "$DIR/in.npz" "$RUNS")
printf '%-22s %10s %10s %14s %12s\n' model "ORT ms" speed-up params macs
for name in fp32 channel nm24 magnitude90; do
  file=$MODEL
  [ "$name" = fp32 ] || file=$DIR/$name.onnx
  ms=$base
  [ "$name" = fp32 ] || ms=$(ort_ms "$file" "$DIR/in.npz" "$RUNS")
  stats=$("$MC" inspect "$file" --json | /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["params"], j["macs"])')
  speedup=$(ratio "$base" "$ms")
  printf '%-22s %10s %10s %14s %12s\n' "$name" "$ms" "${speedup}x" $stats
done
