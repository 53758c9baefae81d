#!/usr/bin/env bash
# mcompress's executor against ONNX Runtime, side by side: median latency of one batch of 100
# (2 threads each, after a warm-up) on the bundled CNN and ViT, and the ratio ours / ORT.
#
#   tools/bench/bench_infer.sh [RUNS]      (default 20)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MC=${MCOMPRESS:-$ROOT/build/mcompress}
RUNS=${1:-20}
THREADS=${THREADS:-2}
BATCH=${BATCH:-100}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT

/usr/bin/python3 "$ROOT/tools/make_inputs.py" "input:float32:$BATCH,1,28,28" "$DIR/in.npz" --seed 1
printf '%-12s %12s %12s %8s\n' model "mcompress ms" "ORT ms" ratio
for model in "$ROOT"/models/*.onnx; do
  name=$(basename "$model" .onnx)
  ours=$("$MC" infer "$model" --data "$DIR/in.npz" --batch-size "$BATCH" --threads "$THREADS" --repeat "$RUNS" --json -q |
         /usr/bin/python3 -c 'import json,sys; print("%.3f" % json.load(sys.stdin)["latency_ms"])')
  theirs=$(node "$ROOT/tools/bench/ort_time.js" "$model" "$DIR/in.npz" "$RUNS" "$THREADS")
  ratio=$(/usr/bin/python3 -c "print('%.2f' % ($ours / $theirs))")
  printf '%-12s %12s %12s %8s\n' "$name" "$ours" "$theirs" "${ratio}x"
done
