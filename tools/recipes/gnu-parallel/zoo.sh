#!/bin/bash
# zoo.sh SHARDS: ZOO (manifest or folder) with MCOMPRESS_ARGS (default: quantize) cut into SHARDS shards run by GNU parallel, JOBS at a time, on this machine
# (or on several with PARALLEL_OPTS="--sshloginfile hosts" and RESULTS on a shared folder), then
# merged. Parallel is used at the shard level only: mcompress's content keys do the resuming, so
# rerunning this script after an interruption or a manifest change redoes just what is needed
# (parallel's own --resume goes by position and reruns the wrong models after an insert).
set -euo pipefail
shards=${1:?usage: zoo.sh SHARDS}
: "${ZOO:?}" "${RESULTS:?}"
MCOMPRESS=${MCOMPRESS:-mcompress}
PARALLEL=${PARALLEL:-parallel}
mkdir -p "$RESULTS"
# parallel exits with the number of failed shards; the merge below gives the verdict on every model.
# shellcheck disable=SC2086
seq 0 $((shards - 1)) | $PARALLEL -j "${JOBS:-2}" ${PARALLEL_OPTS:-} --joblog "$RESULTS/parallel.log" \
  "$MCOMPRESS" batch "$ZOO" --out "$RESULTS" --shard-index {} --shard-count "$shards" -j 1 \
  -- ${MCOMPRESS_ARGS:-quantize} || true
exec "$MCOMPRESS" batch merge "$RESULTS"/report-*.jsonl --manifest "$ZOO" --junit "$RESULTS/junit.xml" \
  --summary-md "$RESULTS/summary.md"
