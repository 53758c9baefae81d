#!/usr/bin/env bash
# The main job on the bundled models: set up, build, then inspect and convert them and check the
# converted models in ONNX Runtime against the originals.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$ROOT/tools/setup.sh"
MC=$ROOT/build/mcompress
OUT=${MCOMPRESS_DEMO_DIR:-$ROOT/build/demo}
mkdir -p "$OUT"
FASHION=/usr/share/datasets/fashion-mnist
PREPROCESS="scale=0.00392156862745098,mean=0.2860,std=0.3530"

for model in "$ROOT"/models/*.onnx; do
  name=$(basename "$model" .onnx)
  echo "== $name"
  "$MC" inspect "$model"
  "$MC" convert "$model" -o "$OUT/$name.converted.onnx" --force
  "$MC" convert "$model" -o "$OUT/$name.external.onnx" --external-data --force
  /usr/bin/python3 "$ROOT/tools/make_inputs.py" "input:float32:8,1,28,28" "$OUT/$name.inputs.npz" --seed 1
  node "$ROOT/tools/oracle/ort_run.js" "$model" "$OUT/$name.inputs.npz" "$OUT/$name.ref.npz"
  for variant in converted external; do
    node "$ROOT/tools/oracle/ort_run.js" "$OUT/$name.$variant.onnx" "$OUT/$name.inputs.npz" "$OUT/$name.$variant.npz"
    if cmp -s "$OUT/$name.ref.npz" "$OUT/$name.$variant.npz"; then
      echo "ONNX Runtime: $name.$variant.onnx gives bit-identical outputs to $name.onnx"
    else
      echo "ONNX Runtime: $name.$variant.onnx outputs DIFFER from $name.onnx" >&2
      exit 1
    fi
  done
  # mcompress's own executor on the real Fashion-MNIST test set: accuracy of the original and the
  # converted model, and how far apart they are.
  "$MC" eval "$model" "$OUT/$name.converted.onnx" --data "$FASHION/t10k-images-idx3-ubyte.gz" \
    --labels "$FASHION/t10k-labels-idx1-ubyte.gz" --preprocess "$PREPROCESS"
done
