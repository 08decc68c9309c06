//===- MakeGoldenModels.cpp - write each golden predict case as a Keras .h5 ------===//
//
// kiln-gpu-golden-models OUTDIR CASE...: rebuilds test/golden/<CASE> with the C++ API (as
// test/e2e/GoldenTest.cpp does), sets its weights and saves OUTDIR/<CASE>.h5, for
// `kilnc compile --device gpu --emit=exe` (test/gpu/golden_gpu.sh).
//
//===----------------------------------------------------------------------===//
#include "../e2e/GoldenModel.h"

#include <fstream>
#include <iostream>

int main(int argc, char **argv) {
  if (argc < 3) {
    std::cerr << "usage: kiln-gpu-golden-models OUTDIR CASE...\n";
    return 2;
  }
  namespace fs = std::filesystem;
  try {
    for (int i = 2; i < argc; ++i) {
      fs::path dir = fs::path(KILN_GOLDEN_DIR) / argv[i];
      auto c = golden::json::parse(std::ifstream(dir / "case.json"));
      kiln::backend::clear_session();
      kiln::Model model = golden::buildModel(c, dir, argv[i]);
      model.save((fs::path(argv[1]) / (std::string(argv[i]) + ".h5")).string());
    }
  } catch (const std::exception &e) {
    std::cerr << "kiln-gpu-golden-models: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
