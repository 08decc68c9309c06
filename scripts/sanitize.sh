#!/usr/bin/env bash
# Builds kiln with AddressSanitizer + UndefinedBehaviorSanitizer (clang-22) into build-asan/, with
# the libFuzzer targets, and runs the whole ctest suite there (fuzz targets over their corpora
# included). The JIT's code and the shared libMLIR/libLLVM are not instrumented; kiln's code is.
# Usage: scripts/sanitize.sh [ctest args...]   (NINJA_JOBS=N limits the build's parallelism)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
if [ ! -f build-asan/build.ninja ]; then
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit \
    -DKILN_SANITIZE=address,undefined -DKILN_FUZZ=ON
fi
cmake --build build-asan -- ${NINJA_JOBS:+-j"$NINJA_JOBS"}
export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-22/bin/llvm-symbolizer
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/scripts/lsan.supp:print_suppressions=0}"
cd build-asan && ctest --output-on-failure -j2 "$@"
