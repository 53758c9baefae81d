#!/usr/bin/env bash
# Structured pruning's speed-up in ONNX Runtime: the bundled CNN before and after
# `mcompress prune --method channel` (L1, 50% of the channels of every Conv/Gemm but the last),
# median latency of one batch (2 threads, after a warm-up), and the N:M / magnitude models for
# contrast (zeros in dense weights: no faster on a CPU).
#
#   tools/bench/bench_prune.sh [RUNS]      (default 50)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MC=${MCOMPRESS:-$ROOT/build/mcompress}
RUNS=${1:-50}
THREADS=${THREADS:-2}
BATCH=${BATCH:-100}
SPARSITY=${SPARSITY:-0.5}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT

MODEL="$ROOT/models/fashion_cnn.onnx"
/usr/bin/python3 "$ROOT/tools/make_inputs.py" "input:float32:$BATCH,1,28,28" "$DIR/in.npz" --seed 1
"$MC" prune "$MODEL" -o "$DIR/channel.onnx" --method channel --sparsity "$SPARSITY" --criterion l1 -q
"$MC" prune "$MODEL" -o "$DIR/nm24.onnx" --method nm --nm 2:4 -q
"$MC" prune "$MODEL" -o "$DIR/magnitude90.onnx" --method magnitude --scope global --sparsity 0.9 -q

base=$(node "$ROOT/tools/bench/ort_time.js" "$MODEL" "$DIR/in.npz" "$RUNS" "$THREADS")
printf '%-22s %10s %10s %14s %12s\n' model "ORT ms" speed-up params macs
for name in fp32 channel nm24 magnitude90; do
  file=$MODEL
  [ "$name" = fp32 ] || file=$DIR/$name.onnx
  ms=$base
  [ "$name" = fp32 ] || ms=$(node "$ROOT/tools/bench/ort_time.js" "$file" "$DIR/in.npz" "$RUNS" "$THREADS")
  stats=$("$MC" inspect "$file" --json | /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["params"], j["macs"])')
  speedup=$(/usr/bin/python3 -c "print('%.2f' % ($base / $ms))")
  printf '%-22s %10s %10s %14s %12s\n' "$name" "$ms" "${speedup}x" $stats
done
