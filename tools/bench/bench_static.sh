#!/usr/bin/env bash
# Static int8, measured:
#  (a) speed-up in ONNX Runtime of `mcompress quantize --calib` (QDQ, per-channel weights, 512
#      Fashion-MNIST training images) over fp32, bundled CNN and ViT: median latency of one batch
#      (tools/bench/ort_time.js, after a warm-up), fp32 and int8 timed back to back;
#  (b) time and peak RSS (/usr/bin/time -v) of the whole `mcompress quantize` on PaddleOCR det
#      (64 synthetic text pages 1x3x640x640, one per forward pass), for every calibration method
#      and auto (which calibrates once and scores all four).
#
#   tools/bench/bench_static.sh
#
# Environment: MCOMPRESS (binary), RUNS (ORT timed runs, default 20), THREADS (ORT threads,
# default 2), BATCH (default 100), DET (the detector model), SKIP_DET=1 (part a only).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/tools/bench/common.sh"
bench_setup
RUNS=${RUNS:-20}
DET=${DET:-$HOME/.cache/mcompress/models/ppocr_det.onnx}

echo "== (a) ONNX Runtime latency: batch $BATCH, $THREADS threads, median of $RUNS"
fashion_inputs "$WORK/in.npz"
printf '%-12s %10s %10s %8s\n' model "fp32 ms" "int8 ms" speedup
for name in fashion_cnn fashion_vit; do
  model="$ROOT/models/$name.onnx"
  "$MC" quantize "$model" --calib "$FASHION/train-images-idx3-ubyte.gz" --preprocess "$FASHION_PRE" --calib-samples 512 \
    -o "$WORK/$name.int8.onnx" -q
  fp32=$(ort_ms "$model" "$WORK/in.npz" "$RUNS")
  int8=$(ort_ms "$WORK/$name.int8.onnx" "$WORK/in.npz" "$RUNS")
  printf '%-12s %10s %10s %7sx\n' "$name" "$fp32" "$int8" "$(ratio "$fp32" "$int8")"
done

[[ ${SKIP_DET:-0} == 1 ]] && exit 0
[[ -f $DET ]] || { echo "no $DET (tools/fetch_models.sh): part (b) skipped"; exit 0; }
echo "== (b) mcompress quantize on $(basename "$DET"): 64 samples 1x3x640x640, batch 1"
# uint8 pages (0 / 255), mapped to -1 / 1 by --preprocess: the data file is 79 MB, not 315 MB.
/usr/bin/python3 "$ROOT/tests/passes/make_text_pages.py" "$WORK/pages.npz" 64 3 640 --uint8
printf '%-11s %9s %12s\n' method seconds "peak RSS MB"
for method in minmax percentile entropy mse auto; do
  /usr/bin/time -v "$MC" quantize "$DET" --calib "$WORK/pages.npz" --preprocess "scale=0.00784313725490196,mean=1" \
    --calib-method "$method" --batch-size 1 -o "$WORK/det.$method.onnx" -q 2> "$WORK/time.txt" ||
    { cat "$WORK/time.txt"; exit 1; }
  awk -F': ' -v m="$method" '
    /Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i] }
    /Maximum resident set size/ { kb = $2 }
    END { printf "%-11s %9.1f %12.0f\n", m, s, kb / 1024 }' "$WORK/time.txt"
done
