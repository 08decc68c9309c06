#!/usr/bin/env bash
# Installs dependencies, builds kiln and runs the main demo: the seed CNN on Fashion-MNIST,
# compiled to native code and run in process, then emitted as an object file + C header.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/build.sh seed_cnn
build/bin/seed_cnn "$@"
