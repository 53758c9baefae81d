#!/usr/bin/env bash
# mcompress's executor against ONNX Runtime, side by side: median latency of one batch of 100
# (2 threads each, after a warm-up) on the bundled CNN and ViT, and the ratio ours / ORT.
#
#   tools/bench/bench_infer.sh [RUNS]      (default 20)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/tools/bench/common.sh"
bench_setup
RUNS=${1:-20}
DIR=$WORK

fashion_inputs "$DIR/in.npz"
printf '%-12s %12s %12s %8s\n' model "mcompress ms" "ORT ms" ratio
for model in "$ROOT"/models/*.onnx; do
  name=$(basename "$model" .onnx)
  ours=$("$MC" infer "$model" --data "$DIR/in.npz" --batch-size "$BATCH" --threads "$THREADS" --repeat "$RUNS" --json -q |
         /usr/bin/python3 -c 'import json,sys; print("%.3f" % json.load(sys.stdin)["latency_ms"])')
  theirs=$(ort_ms "$model" "$DIR/in.npz" "$RUNS")
  printf '%-12s %12s %12s %8s\n' "$name" "$ours" "$theirs" "$(ratio "$ours" "$theirs")x"
done
