//===- H5Fuzzer.cpp - libFuzzer target: kiln::load_model on an arbitrary .h5 image -===//
//
// The bytes sit in a memfd, so libhdf5 reads them from memory through kiln's own load_model path
// (.h5 full models; a zip-magic input goes down the .keras path, which the fuzzer may also find).
// libhdf5 itself is not instrumented: coverage guides through kiln's checks only.
//
//===----------------------------------------------------------------------===//
#include "FuzzInput.h"
#include "kiln/kiln.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  kiln::fuzz::MemFile file(data, size);
  try {
    kiln::Model m = kiln::load_model(file.path());
    (void)m;
  } catch (const kiln::Error &) {
  }
  return 0;
}
