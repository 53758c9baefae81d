#!/usr/bin/env bash
# `mcompress batch` overhead on a zoo of small models (tests/cli/make_zoo.py MLPs), -j 2:
#   direct  : the same `quantize -o ... --report ... --threads 1` commands run by xargs -P 2 (no batch);
#   batch   : `mcompress batch DIR --out OUT -j 2 -- quantize` (fork/exec, hashing, result.json, report);
#   rerun   : the same batch again with nothing changed (every model reused from its result.json).
# Overhead per model = (batch - direct) x 2 slots / N, in slot seconds.
#
#   tools/bench/bench_batch.sh [N]      (default 200)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/tools/bench/common.sh"
bench_setup
N=${1:-200}
ZOO=$WORK/zoo
/usr/bin/python3 "$ROOT/tests/cli/make_zoo.py" "$ZOO" --count "$N"

now() { date +%s.%N; }
t0=$(now)
ls "$ZOO"/*.onnx | xargs -P 2 -I{} "$MC" quantize {} -o {}.q.onnx --report {}.json --threads 1 -q
t1=$(now)
rm -f "$ZOO"/*.q.onnx "$ZOO"/*.json  # not part of the zoo
"$MC" batch "$ZOO" --out "$WORK/out" -j 2 -q -- quantize
t2=$(now)
"$MC" batch "$ZOO" --out "$WORK/out" -j 2 -q -- quantize
t3=$(now)
cached=$(grep -c '"hit":true' "$WORK/out/report.jsonl")

awk -v n="$N" -v d="$(echo "$t1 - $t0" | bc)" -v b="$(echo "$t2 - $t1" | bc)" -v r="$(echo "$t3 - $t2" | bc)" \
    -v c="$cached" 'BEGIN {
  printf "%d models, -j 2\n", n
  printf "direct (xargs -P 2): %.2f s (%.1f ms per model per slot)\n", d, 2000 * d / n
  printf "batch:               %.2f s (%.1f ms per model per slot)\n", b, 2000 * b / n
  printf "overhead per model:  %.1f ms (slot time)\n", 2000 * (b - d) / n
  printf "second run:          %.2f s, %d of %d reused\n", r, c, n
}'
