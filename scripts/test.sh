#!/usr/bin/env bash
# Installs dependencies, builds kiln and runs every test (lit, GoogleTest, end to end).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/build.sh
cd build && ctest --output-on-failure -j2 "$@"
