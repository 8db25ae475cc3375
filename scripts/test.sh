#!/usr/bin/env bash
# Sets up and runs every test: installs dependencies (Debian packages), builds the `asan`
# preset (address + undefined-behaviour sanitizers) and runs ctest: unit tests, lit golden
# tests and the tests/lang programs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset asan >/dev/null
cmake --build --preset asan -j "$(nproc)"
ctest --preset asan -j "$(nproc)" "$@"
