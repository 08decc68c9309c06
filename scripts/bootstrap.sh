#!/usr/bin/env bash
# Installs every Debian 12 package kiln needs to build, test and run its demo.
# LLVM/MLIR 22 come from the Debian repository this machine is configured with (apt.llvm.org
# on a stock Debian 12). Run as root, or with sudo available.
set -euo pipefail

PACKAGES=(
  llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools clang-22 libclang-rt-22-dev
  cmake ninja-build g++ git
  nlohmann-json3-dev libhdf5-dev libzip-dev zlib1g-dev
  googletest libgtest-dev libgmock-dev
  python3-numpy python3-h5py
  graphviz librsvg2-bin
  dataset-fashion-mnist
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "bootstrap: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "bootstrap: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
