#!/bin/bash
# Reproduces everything in this directory (CPU, 2 threads). Needs Debian python3-torch/-onnx and
# onnxruntime-node at $ORT_NODE_MODULES. Per-step wall times -> results/step_times.tsv
set -euo pipefail
cd "$(dirname "$0")"
steps=${*:-"s0_fixtures s1_teacher s2_students s3_binarize s4_prune s4b_ft_control s5_quant make_results"}
mkdir -p logs results fixtures
for s in $steps; do
  t0=$(date +%s.%N)
  /usr/bin/python3 "$s.py" > "logs/$s.stdout" 2>&1 || { echo "$s failed, see logs/$s.stdout" >&2; exit 1; }
  t1=$(date +%s.%N)
  printf "%s\t%.1f\n" "$s" "$(echo "$t1 - $t0" | bc)" | tee -a results/step_times.tsv
done
