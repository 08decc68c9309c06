//===- NpyFuzzer.cpp - libFuzzer target: kiln::loadNpy on arbitrary bytes -===//
#include "FuzzInput.h"
#include "kiln/Npy.h"

#include <stdexcept>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  kiln::fuzz::MemFile file(data, size);
  try {
    kiln::Array a = kiln::loadNpy(file.path());
    // The reader's one promise about the result: the values fill the shape.
    if (static_cast<int64_t>(a.data.size()) != kiln::Array::numElements(a.shape))
      __builtin_trap();
  } catch (const std::runtime_error &) {
    // Rejected with kiln's IO error: the expected outcome for most inputs.
  }
  return 0;
}
