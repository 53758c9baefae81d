#!/usr/bin/env bash
# Sets up (tools/setup.sh), builds and runs the whole test suite: unit, cli, oracle (ONNX
# Runtime), real (published models). Extra arguments go to ctest, e.g. `tools/test.sh -L unit`.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${MCOMPRESS_BUILD_DIR:-$ROOT/build}
"$ROOT/tools/setup.sh" "$BUILD_DIR"
cd "$BUILD_DIR"
ctest --output-on-failure -j"$(nproc)" "$@"
