#!/usr/bin/env bash
# Sets up and runs the main job: installs dependencies (Debian packages), builds the
# `release` preset and trains the Fashion-MNIST MLP example (examples/fashion_mnist_mlp.msl,
# default flags: 10 epochs, about 89% test accuracy).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target msl
build/release/tools/msl run examples/fashion_mnist_mlp.msl "$@"
