#!/usr/bin/env bash
# Time `mcompress quantize` end to end (read, quantize, write) on the ~537 MB float32 MLP of
# make_big_model.py: weight-only int8 (the issue's target: <= 0.8 s, peak RSS <= 1.5x the
# input), and with MODES="..." any other flag sets.
#
#   tools/bench/bench_quantize.sh
#
# Environment:
#   MCOMPRESS             binary to time (default: <repo>/build/mcompress)
#   MCOMPRESS_BENCH_DIR   work folder (default: /tmp/mcompress-bench); big.onnx is built there
#                         once and reused while it exists
#   RUNS                  timed runs per mode (default: 5)
#   MODES                 ';'-separated flag sets (default: "--mode weight")
#   THREADS               --threads (default: all cores)
#
# Prints, per mode, the median wall seconds, input bytes / median seconds (decimal GB/s), peak
# RSS over the runs and peak RSS / input size, and the output size.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MCOMPRESS=${MCOMPRESS:-$ROOT/build/mcompress}
DIR=${MCOMPRESS_BENCH_DIR:-/tmp/mcompress-bench}
RUNS=${RUNS:-5}
MODES=${MODES:---mode weight}
THREADS=${THREADS:-0}
source "$ROOT/tools/bench/common.sh"
big_model
[[ -x $MCOMPRESS ]] || { echo "mcompress binary not found: $MCOMPRESS (set MCOMPRESS=...)" >&2; exit 1; }

echo "model: $BIG ($BYTES bytes), $(nproc) cores, load average $(cut -d' ' -f1 /proc/loadavg)"
IFS=';' read -r -a mode_list <<< "$MODES"
for mode in "${mode_list[@]}"; do
    read -r -a flags <<< "$mode"
    times=$DIR/quantize_times.txt
    : > "$times"
    for ((i = 1; i <= RUNS; i++)); do
        /usr/bin/time -f '%e %M' -o "$DIR/quantize_time.one" "$MCOMPRESS" quantize "$BIG" "${flags[@]}" \
            --threads "$THREADS" -o "$DIR/quantized.onnx" --force -q > "$DIR/quantize.log" 2>&1 ||
            { echo "mcompress quantize ${flags[*]} failed:" >&2; tail -n 20 "$DIR/quantize.log" >&2; exit 1; }
        tail -n 1 "$DIR/quantize_time.one" >> "$times"
    done
    read -r med kb < <(summarize "$times")
    report "mcompress quantize ${flags[*]} (median of $RUNS)" "$med" "$kb"
    echo "  output bytes: $(stat -c %s "$DIR/quantized.onnx")"
done
rm -f "$DIR/quantized.onnx"
