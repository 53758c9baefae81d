#!/usr/bin/env bash
# The main job on the bundled models: set up, build the binary (only: not the tests), inspect and
# convert the CNN and the ViT, then quantize and prune them; every model written is run in ONNX
# Runtime, and mcompress eval shows size and accuracy before/after on the real Fashion-MNIST
# test set.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$ROOT/tools/setup.sh" --demo
MC=$ROOT/build/mcompress
OUT=${MCOMPRESS_DEMO_DIR:-$ROOT/build/demo}
mkdir -p "$OUT"
FASHION=/usr/share/datasets/fashion-mnist
PREPROCESS="scale=0.00392156862745098,mean=0.2860,std=0.3530"

for model in "$ROOT"/models/fashion_cnn.onnx "$ROOT"/models/fashion_vit.onnx; do
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

# Compression. Each result must load and run in ONNX Runtime; eval prints accuracy of both models,
# top-1 agreement, output SQNR and bytes before/after.
CNN=$ROOT/models/fashion_cnn.onnx
VIT=$ROOT/models/fashion_vit.onnx
TEST_SET=(--data "$FASHION/t10k-images-idx3-ubyte.gz" --labels "$FASHION/t10k-labels-idx1-ubyte.gz" --preprocess "$PREPROCESS")
compare() {  # BASE CANDIDATE
  node "$ROOT/tools/oracle/ort_run.js" "$2" "$OUT/$(basename "$1" .onnx).inputs.npz" "$OUT/check.npz" >/dev/null
  echo "-- $(basename "$2"): runs in ONNX Runtime"
  "$MC" eval "$1" "$2" "${TEST_SET[@]}"
}

echo "== quantize"
"$MC" quantize "$CNN" -o "$OUT/fashion_cnn.int8.onnx" --force
compare "$CNN" "$OUT/fashion_cnn.int8.onnx"
"$MC" quantize "$CNN" -o "$OUT/fashion_cnn.static.onnx" --force --calib "$FASHION/train-images-idx3-ubyte.gz" \
  --calib-samples 512 --preprocess "$PREPROCESS"
compare "$CNN" "$OUT/fashion_cnn.static.onnx"
"$MC" quantize "$VIT" --mode dynamic -o "$OUT/fashion_vit.dynamic.onnx" --force
compare "$VIT" "$OUT/fashion_vit.dynamic.onnx"
"$MC" quantize "$VIT" --bits 4 -o "$OUT/fashion_vit.int4.onnx" --force
compare "$VIT" "$OUT/fashion_vit.int4.onnx"
"$MC" quantize "$VIT" --bits 16 -o "$OUT/fashion_vit.fp16.onnx" --force
node "$ROOT/tools/oracle/ort_run.js" "$OUT/fashion_vit.fp16.onnx" "$OUT/fashion_vit.inputs.npz" "$OUT/check.npz" >/dev/null
echo "-- fashion_vit.fp16.onnx: runs in ONNX Runtime ($(stat -c %s "$VIT") -> $(stat -c %s "$OUT/fashion_vit.fp16.onnx") bytes)"

echo "== prune"
"$MC" prune "$CNN" -o "$OUT/fashion_cnn.magnitude80.onnx" --method magnitude --scope global --sparsity 0.8 --force
compare "$CNN" "$OUT/fashion_cnn.magnitude80.onnx"
"$MC" prune "$CNN" -o "$OUT/fashion_cnn.nm24.onnx" --method nm --nm 2:4 --force
compare "$CNN" "$OUT/fashion_cnn.nm24.onnx"
"$MC" prune "$CNN" -o "$OUT/fashion_cnn.channel50.onnx" --method channel --sparsity 0.5 --criterion l1 --force
compare "$CNN" "$OUT/fashion_cnn.channel50.onnx"
