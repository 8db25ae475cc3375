#!/usr/bin/env bash
# Installs every build, test and run-time dependency of msl from Debian 12 packages.
# Idempotent: packages already present are left alone. Nothing is downloaded from
# anywhere but Debian's archive.
set -euo pipefail

PKGS=(
  build-essential cmake ninja-build ccache pkg-config
  llvm-14-dev llvm-14-tools clang-14 libclang-rt-14-dev   # codegen, lit/FileCheck, sanitizers
  antlr4 libantlr4-runtime-dev default-jre-headless        # grammar tool + C++ runtime
  libboost-dev                                             # small_vector, intrusive_ptr, crc
  libedit-dev                                              # readline-compatible line editor
  libgtest-dev libgmock-dev                                # unit tests
  libdnnl-dev                                              # GEMM / convolution kernels
  zlib1g-dev                                               # gzip'd IDX files
  python3-numpy                                            # optional cross-checks in tests
  dataset-fashion-mnist                                    # the training examples' data (IDX files)
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
