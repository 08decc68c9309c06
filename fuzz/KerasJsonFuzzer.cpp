//===- KerasJsonFuzzer.cpp - libFuzzer target: kiln::model_from_json on arbitrary text -===//
//
// Only kiln::Error is an accepted failure: a nlohmann exception, std::out_of_range or
// std::bad_alloc escaping model_from_json is a bug the fuzzer should report.
//
//===----------------------------------------------------------------------===//
#include "kiln/kiln.h"

#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string text(reinterpret_cast<const char *>(data), size);
  try {
    kiln::Model m = kiln::model_from_json(text);
    (void)m;
  } catch (const kiln::Error &) {
  }
  return 0;
}
