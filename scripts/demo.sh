#!/usr/bin/env bash
# Installs dependencies, builds kiln and runs the main demo: the seed CNN on Fashion-MNIST,
# trained, evaluated and run in process, then written out as kiln IR, an object file and .h5.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/build.sh seed_cnn
build/bin/seed_cnn "$@"
