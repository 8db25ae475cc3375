#!/usr/bin/env bash
# Sets up and runs every test: installs dependencies (Debian packages), builds the `asan`
# preset (address + undefined-behaviour sanitizers) and runs ctest: unit tests, lit golden
# tests and the tests/lang programs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset asan >/dev/null
cmake --build --preset asan -j "$(nproc)"
# Graph mode's persistent compile cache (docs/graph_mode.md) goes into the build tree, not
# ~/.cache/msl: each fresh build tests compilation, not entries an earlier run left.
export MSL_CACHE_DIR="$PWD/build/asan/compile-cache"
ctest --preset asan -j "$(nproc)" "$@"
