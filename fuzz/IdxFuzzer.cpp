//===- IdxFuzzer.cpp - libFuzzer target: kiln::loadIdx (plain and gzip) on arbitrary bytes -===//
#include "FuzzInput.h"
#include "kiln/Idx.h"

#include <stdexcept>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  kiln::fuzz::MemFile file(data, size);
  try {
    kiln::Array a = kiln::loadIdx(file.path());
    if (static_cast<int64_t>(a.data.size()) != kiln::Array::numElements(a.shape))
      __builtin_trap();
  } catch (const std::runtime_error &) {
  }
  return 0;
}
