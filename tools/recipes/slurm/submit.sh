#!/bin/bash
# submit.sh SHARDS [MAX_RUNNING]: the array job (0..SHARDS-1, at most MAX_RUNNING at once) and the
# merge job that waits for all of it. ZOO and RESULTS are passed through the environment.
set -euo pipefail
shards=${1:?usage: submit.sh SHARDS [MAX_RUNNING]}
max=${2:-8}
here=$(cd "$(dirname "$0")" && pwd)
SBATCH=${SBATCH:-sbatch}
jid=$($SBATCH --parsable --export=ALL --array="0-$((shards - 1))%$max" "$here/zoo-array.sbatch")
$SBATCH --parsable --export=ALL --dependency="afterany:${jid%%;*}" "$here/merge.sbatch"
