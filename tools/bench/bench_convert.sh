#!/usr/bin/env bash
# Time `mcompress convert` on a ~537 MB float32 model.
#
#   tools/bench/bench_convert.sh
#
# Environment:
#   MCOMPRESS             binary to time (default: <repo>/build/mcompress)
#   MCOMPRESS_BENCH_DIR   work folder (default: /tmp/mcompress-bench). big.onnx
#                         is built there once and reused while it exists.
#   RUNS                  number of timed runs (default: 5)
#   SKIP_PYTHON=1         skip the python onnx load+save reference line
#
# Prints the file size, median wall seconds, throughput (file bytes / median
# seconds, in decimal GB/s), peak RSS over all runs, and peak RSS / file size.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MCOMPRESS=${MCOMPRESS:-$ROOT/build/mcompress}
DIR=${MCOMPRESS_BENCH_DIR:-/tmp/mcompress-bench}
RUNS=${RUNS:-5}
PY=/usr/bin/python3
TIME=/usr/bin/time
source "$ROOT/tools/bench/common.sh"
big_model

echo "model: $BIG"
echo "file bytes: $BYTES"

status=0
TIMES=$DIR/times.txt
: > "$TIMES"
if [[ -x $MCOMPRESS ]]; then
    for ((i = 1; i <= RUNS; i++)); do
        if ! "$TIME" -f '%e %M' -o "$DIR/time.one" \
                "$MCOMPRESS" convert "$BIG" -o "$DIR/out.onnx" --force > "$DIR/run.log" 2>&1; then
            echo "run $i: mcompress failed; output:" >&2
            tail -n 20 "$DIR/run.log" >&2
            status=1
            break
        fi
        # time -o may prepend a "Command exited..." line; keep the last line only
        line=$(tail -n 1 "$DIR/time.one")
        echo "run $i: ${line% *} s, ${line#* } KB" >&2
        echo "$line" >> "$TIMES"
    done
    if [[ $status -eq 0 ]]; then
        read -r med kb < <(summarize "$TIMES")
        echo "runs: $RUNS"
        echo "median seconds: $med"
        report "mcompress convert (median of $RUNS)" "$med" "$kb"
    fi
else
    echo "mcompress binary not found or not executable: $MCOMPRESS (set MCOMPRESS=...)" >&2
    status=1
fi

if [[ ${SKIP_PYTHON:-0} != 1 ]]; then
    "$TIME" -f '%e %M' -o "$DIR/time.py" "$PY" -c \
        'import sys, onnx; m = onnx.load(sys.argv[1]); onnx.save(m, sys.argv[2])' \
        "$BIG" "$DIR/py_out.onnx"
    read -r s kb < <(tail -n 1 "$DIR/time.py")
    report "python onnx load+save (1 run, reference)" "$s" "$kb"
    rm -f "$DIR/py_out.onnx"
fi

exit $status
