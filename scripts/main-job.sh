#!/usr/bin/env bash
# Sets up and runs the main job: installs dependencies (Debian packages), builds the
# `release` preset and runs the bundled example program.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target msl
build/release/tools/msl run examples/01_hello_tensors.msl
