#!/bin/bash
# link_static.sh - relinks a kiln test or tool from build/ statically against LLVM's and MLIR's
# archives (Debian's llvm-22-dev / libmlir-22-dev ship them), so that it runs on a GPU machine
# with no LLVM 22 installed: the JIT paths (compile({.device = "gpu"})) can then be tested there.
# It reuses the objects and kiln archives of an existing build; only the link differs.
#
#   test/gpu/link_static.sh BUILD_DIR TARGET OUT    e.g. build KilnFitGoldenTest /tmp/fit.static
#
# The result still needs libc, libstdc++, libhdf5 (serial, soname 103), libcurl, libsz, libzip
# libz, libzstd and libxml2 as shared libraries (libz3 only if LLVM's code needs it).
set -euo pipefail
build=$(cd "$1" && pwd) target=$2 out=$3
llvm=/usr/lib/llvm-22/lib
cmd=$(awk -v t="bin/$target" '
  $0 ~ "^build " t "[ :]" { on = 1 }
  on && /^  LINK_LIBRARIES = / { sub(/^  LINK_LIBRARIES = /, ""); print; exit }' "$build/build.ninja")
objs=$(awk -v t="bin/$target" '
  $0 ~ "^build " t "[ :]" { sub(/.*_Release /, ""); sub(/ \|.*/, ""); print; exit }' "$build/build.ninja")
[ -n "$cmd" ] && [ -n "$objs" ] || { echo "link_static: no link rule for $target in $build" >&2; exit 1; }
# Drop the shared LLVM/MLIR and the rpath; add every MLIR and LLVM archive in one group.
libs=$(echo "$cmd" | tr ' ' '\n' | grep -v -e "libMLIR.so" -e "libLLVM.so" -e "^-Wl,-rpath" | tr '\n' ' ')
cd "$build"
clang++-22 -O2 -o "$out" $objs $libs \
  -Wl,--start-group $llvm/libMLIR*.a $llvm/libLLVM*.a -Wl,--end-group \
  -Wl,--as-needed /usr/lib/x86_64-linux-gnu/libz3.so.4 /usr/lib/x86_64-linux-gnu/libzstd.so.1 \
  -lxml2 -lz -ltinfo -lpthread -ldl -Wl,--gc-sections -s
echo "link_static: wrote $out ($(du -h "$out" | cut -f1))"
