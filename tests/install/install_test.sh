#!/usr/bin/env bash
# ctest install_consumer: `cmake --install` the build into a fresh prefix, build the consumer
# project beside this script against it with find_package(mcompress), quantize the bundled CNN
# with it, and check the result: the installed binary inspects it and ONNX Runtime runs it with
# outputs close to the original's.
#   install_test.sh BUILD_DIR SOURCE_DIR WORK_DIR
set -euo pipefail
BUILD=$1 SRC=$2 WORK=$3
rm -rf "$WORK" && mkdir -p "$WORK"
fail() { echo "install_test: $*" >&2; exit 1; }

cmake --install "$BUILD" --prefix "$WORK/prefix" >/dev/null
for f in bin/mcompress include/mcompress/passes/quantize.h lib/libmcompress_passes.a \
         lib/cmake/mcompress/mcompressConfig.cmake lib/cmake/mcompress/mcompressTargets.cmake; do
  [ -e "$WORK/prefix/$f" ] || fail "cmake --install did not put $f in place"
done

cmake -S "$SRC/tests/install/consumer" -B "$WORK/build" -DCMAKE_PREFIX_PATH="$WORK/prefix" >/dev/null
cmake --build "$WORK/build" -j2 >/dev/null

line=$("$WORK/build/consumer" "$SRC/models/fashion_cnn.onnx" "$WORK/cnn.int8.onnx")
echo "consumer: $line"
read -r before after changed <<<"$(sed -E 's/weights ([0-9]+) -> ([0-9]+) bytes, ([0-9]+) tensors changed/\1 \2 \3/' <<<"$line")"
[ "$changed" = 4 ] || fail "expected the CNN's 4 weights quantized, got $changed"
[ $((after * 3)) -lt "$before" ] || fail "int8 weights not under a third of float32: $before -> $after"

"$WORK/prefix/bin/mcompress" inspect "$WORK/cnn.int8.onnx" --json >"$WORK/inspect.json"
grep -q '"DequantizeLinear": 4' "$WORK/inspect.json" || fail "the installed mcompress does not see 4 DequantizeLinear"

/usr/bin/python3 "$SRC/tools/make_inputs.py" "input:float32:16,1,28,28" "$WORK/in.npz" --seed 3
node "$SRC/tools/oracle/ort_run.js" "$SRC/models/fashion_cnn.onnx" "$WORK/in.npz" "$WORK/ref.npz" >/dev/null
node "$SRC/tools/oracle/ort_run.js" "$WORK/cnn.int8.onnx" "$WORK/in.npz" "$WORK/out.npz" >/dev/null
/usr/bin/python3 - "$WORK/ref.npz" "$WORK/out.npz" <<'PY'
import sys, numpy as np
a, b = (np.load(p)["logits"].ravel().astype(np.float64) for p in sys.argv[1:3])
cos = float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
print(f"ONNX Runtime: consumer's int8 CNN cosine {cos:.6f} to the original")
sys.exit(0 if cos > 0.999 else 1)
PY
