//===- NpyInfo.cpp - a program on kiln::runtime alone: no LLVM, no MLIR, no compiler -===//
//
// npy_info FILE.npy...: prints each array's shape and value range, read with kiln's .npy
// reader. With no file it writes a small array to npy_info_selftest.npy and reads it back.
// Links kiln::runtime only (CMake) or `pkg-config kiln-runtime` (Makefile), so it shows what a
// program that only loads data and runs kilnc-generated objects carries along.
//
//===----------------------------------------------------------------------===//
#include "kiln/Npy.h"
#include "kiln/Version.h"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

int main(int argc, char **argv) {
  std::vector<std::string> paths(argv + 1, argv + argc);
  try {
    if (paths.empty()) {
      kiln::saveNpy("npy_info_selftest.npy", kiln::Array({2, 3}, {1, 2, 3, 4, 5, 6}));
      paths.push_back("npy_info_selftest.npy");
    }
    std::printf("kiln runtime %s (generated C ABI %d)\n", KILN_VERSION_STRING, KILN_ABI_VERSION);
    for (const std::string &path : paths) {
      kiln::Array a = kiln::loadNpy(path);
      auto [lo, hi] = std::minmax_element(a.data.begin(), a.data.end());
      std::printf("%s: shape %s, %lld values", path.c_str(),
                  kiln::Array::shapeString(a.shape).c_str(), static_cast<long long>(a.size()));
      if (a.size())
        std::printf(" in [%g, %g]", *lo, *hi);
      std::printf("\n");
    }
  } catch (const std::exception &e) {
    std::fprintf(stderr, "npy_info: %s\n", e.what());
    return 1;
  }
  return 0;
}
