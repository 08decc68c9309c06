#!/usr/bin/env bash
# check-install.sh [BUILD_DIR]: proves that an installed kiln is usable the way a user uses it.
# Installs BUILD_DIR (default build/, already built) to a temporary prefix, then:
#   1. the installed kilnc runs and reports its versions;
#   2. examples/ configures and builds as a separate CMake project with
#      find_package(kiln 0.1 CONFIG REQUIRED) against that prefix; seed_cnn and npy_info run;
#   3. npy_info (kiln::runtime alone) has no libLLVM or libMLIR in ldd, seed_cnn (kiln::kiln) has;
#   4. the same program builds from `pkg-config --cflags --libs kiln-runtime`, kiln-gpu-info from
#      kiln-gpu-runtime's (no LLVM, MLIR or libcuda at link time), and both kiln-gpu-info run;
#   5. the installed kilnc compiles a Keras model to an object and header carrying the project's
#      version and ABI version, which a C program links with libm alone;
#   6. the installed kilnc links a standalone trainer (--emit=exe --train) from the installed
#      runtime libraries; it has no LLVM, MLIR or kiln library in ldd and trains.
# Run by the ctest `install-check` (label `install`). KEEP=1 keeps the temporary folder.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
jobs=${KILN_JOBS:-1}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kiln-install-check.XXXXXX")
if [[ "${KEEP:-0}" == 1 ]]; then
  echo "check-install: keeping $tmp"
else
  trap 'rm -rf "$tmp"' EXIT
fi
prefix=$tmp/prefix
fail() { echo "check-install: FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

cache() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
cc=$(cache CMAKE_C_COMPILER)
cxx=$(cache CMAKE_CXX_COMPILER)
version=$(cache CMAKE_PROJECT_VERSION)
[[ -n "$version" ]] || fail "no project version in $build/CMakeCache.txt"

step "install $build to $prefix"
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" || {
  cat "$tmp/install.log"; fail "cmake --install (is $build built?)"; }
for f in bin/kilnc bin/kiln-opt bin/kiln-gpu-info include/kiln/kiln.h include/kiln/Npy.h \
         include/kiln/Version.h include/kiln/kiln_gpu.h lib/cmake/kiln/kilnConfig.cmake \
         lib/cmake/kiln/kilnConfigVersion.cmake lib/pkgconfig/kiln-runtime.pc \
         lib/pkgconfig/kiln-gpu-runtime.pc; do
  [[ -e "$prefix/$f" ]] || fail "$f is not installed"
done

step "installed kilnc --version"
"$prefix/bin/kilnc" --version | tee "$tmp/version.txt"
grep -q "kiln) $version\$" "$tmp/version.txt" || fail "kilnc --version does not say $version"
grep -q "ABI version" "$tmp/version.txt" || fail "kilnc --version does not give the ABI version"

step "configure and build examples/ against the installed package"
cmake -S "$src/examples" -B "$tmp/examples" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_PREFIX_PATH="$prefix" \
  >"$tmp/configure.log" || { cat "$tmp/configure.log"; fail "configuring examples/"; }
grep -q "$prefix" "$tmp/examples/CMakeCache.txt" || fail "examples/ did not find kiln in $prefix"
cmake --build "$tmp/examples" -j "$jobs" || fail "building examples/"

step "run npy_info (kiln::runtime alone)"
(cd "$tmp" && "$tmp/examples/npy_info") || fail "npy_info"
step "run seed_cnn (kiln::kiln): summary, JIT predict on Fashion-MNIST, object file"
"$tmp/examples/seed_cnn" "$tmp/seed_cnn" >"$tmp/seed_cnn.log" || {
  cat "$tmp/seed_cnn.log"; fail "seed_cnn"; }
grep -E "^predict:|^wrote" "$tmp/seed_cnn.log"

step "ldd: kiln::runtime programs carry no compiler"
# Into files first: `ldd | grep -q` under pipefail fails when grep stops reading early.
ldd "$tmp/examples/npy_info" >"$tmp/npy_info.ldd"
ldd "$tmp/examples/seed_cnn" >"$tmp/seed_cnn.ldd"
if grep -E "libLLVM|libMLIR" "$tmp/npy_info.ldd"; then
  fail "npy_info links LLVM or MLIR"
fi
grep -q libMLIR "$tmp/seed_cnn.ldd" || fail "seed_cnn does not link libMLIR (ldd broken?)"
echo "npy_info: no libLLVM, no libMLIR"

step "pkg-config kiln-runtime (a Makefile's view)"
pcdir=$(dirname "$(find "$prefix" -name kiln-runtime.pc)")
export PKG_CONFIG_PATH=$pcdir
[[ "$(pkg-config --modversion kiln-runtime)" == "$version" ]] || fail "pkg-config version"
# shellcheck disable=SC2046
"$cxx" -O1 -o "$tmp/npy_info_pc" "$src/examples/NpyInfo.cpp" \
  $(pkg-config --cflags --libs kiln-runtime) || fail "building with pkg-config"
(cd "$tmp" && ./npy_info_pc npy_info_selftest.npy) || fail "npy_info_pc"
ldd "$tmp/npy_info_pc" >"$tmp/npy_info_pc.ldd"
if grep -E "libLLVM|libMLIR" "$tmp/npy_info_pc.ldd"; then
  fail "npy_info_pc links LLVM or MLIR"
fi

step "pkg-config kiln-gpu-runtime: kiln-gpu-info from the installed CUDA shim"
# shellcheck disable=SC2046
"$cc" -std=c99 -o "$tmp/gpu_info_pc" "$src/runtime/gpu/GpuInfo.c" \
  $(pkg-config --cflags --libs kiln-gpu-runtime) || fail "building GpuInfo.c with pkg-config"
ldd "$tmp/gpu_info_pc" >"$tmp/gpu_info_pc.ldd"
if grep -E "libLLVM|libMLIR|libcuda" "$tmp/gpu_info_pc.ldd"; then
  fail "gpu_info_pc links LLVM, MLIR or libcuda at link time"
fi
for prog in "$tmp/gpu_info_pc" "$prefix/bin/kiln-gpu-info"; do
  rc=0
  "$prog" || rc=$?
  [[ $rc == 0 || $rc == 77 ]] || fail "$prog exited $rc (0: a GPU, 77: none)"
done

step "installed kilnc: AOT object and header"
"$prefix/bin/kilnc" compile "$src/test/files/Inputs/keras2_mlp.h5" --emit=obj -o "$tmp/m.o" \
  --header "$tmp/m.h" --prefix m >/dev/null || fail "kilnc compile --emit=obj"
abi=$(sed -n 's/^#define KILN_ABI_VERSION //p' "$prefix/include/kiln/Version.h")
grep -q "^#define M_KILN_VERSION \"$version\"" "$tmp/m.h" || fail "m.h lacks kiln $version"
grep -q "^#define M_ABI_VERSION $abi\$" "$tmp/m.h" || fail "m.h lacks ABI version $abi"
cat >"$tmp/aot.c" <<'EOF'
#include "m.h"
#include "kiln/Version.h"
#include <stdio.h>
#include <stdlib.h>
int main(void) {
  if (M_ABI_VERSION != KILN_ABI_VERSION)
    return 3;
  float *x = calloc(M_INPUT_SAMPLE_SIZE, sizeof(float));
  float *y = calloc(M_OUTPUT_SAMPLE_SIZE, sizeof(float));
  void *ws = malloc((size_t)m_workspace_size(1));
  int status = m_predict(x, y, 1, ws);
  printf("aot: kiln %s ABI %d, predict status %d, y[0] = %g\n", M_KILN_VERSION, M_ABI_VERSION,
         status, y[0]);
  return status;
}
EOF
"$cc" -std=c99 -I"$tmp" -I"$prefix/include" -o "$tmp/aot" "$tmp/aot.c" "$tmp/m.o" -lm ||
  fail "linking the AOT object with $cc"
"$tmp/aot" || fail "running the AOT program"

step "installed kilnc: standalone trainer"
"$prefix/bin/kilnc" compile "$src/test/files/Inputs/keras2_mlp.h5" --emit=exe --train \
  -o "$tmp/train" >/dev/null || fail "kilnc compile --emit=exe --train"
! ldd "$tmp/train" | grep -E -i "llvm|mlir|kiln" || fail "the trainer links LLVM, MLIR or kiln"
LD_LIBRARY_PATH= "$tmp/train" --x "$src/test/files/Inputs/keras2_mlp.x.npy" \
  --y "$src/test/files/Inputs/keras2_mlp.y.npy" --epochs 2 --verbose 2 \
  --output "$tmp/trained.h5" || fail "running the trainer"
[[ -s "$tmp/trained.h5" ]] || fail "the trainer wrote no model"

echo "check-install: OK (kiln $version, ABI $abi)"
