//===- MakeSeedModel.cpp - the embed example's model and the JIT's reference outputs -===//
//
// kiln-embed-make-model GOLDEN_DIR OUT_DIR [COUNT]: builds the golden case's Keras model
// (model.json) with kiln's API, sets the weights from its weights/ .npy files, saves it as
// OUT_DIR/model.h5 (model.save) and writes the in-process (JIT) predictions on the first COUNT
// Fashion-MNIST test images (default all) to OUT_DIR/jit_y.npy, for the embed test to compare.
//
//===----------------------------------------------------------------------===//
#include "kiln/Datasets.h"
#include "kiln/Npy.h"
#include "kiln/kiln.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

int main(int argc, char **argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s GOLDEN_DIR OUT_DIR [COUNT]\n", argv[0]);
    return 2;
  }
  std::string golden = argv[1], out = argv[2];
  try {
    std::ifstream config(golden + "/model.json");
    std::stringstream text;
    text << config.rdbuf();
    kiln::Model model = kiln::model_from_json(text.str());

    std::ifstream manifestFile(golden + "/weights/manifest.json");
    nlohmann::json manifest = nlohmann::json::parse(manifestFile);
    std::vector<kiln::Array> weights;
    for (const auto &layer : manifest.at("layers"))
      for (const auto &w : layer.at("weights"))
        weights.push_back(kiln::loadNpy(golden + "/weights/" + w.at("file").get<std::string>()));
    model.set_weights(weights);
    model.save(out + "/model.h5");

    auto data = kiln::datasets::fashion_mnist::load_test_data();
    int64_t n = argc > 3 ? std::atoll(argv[3]) : data.x_test.shape[0];
    kiln::Array y = model.predict(data.x_test.rows(0, n), {.batch_size = 100});
    kiln::saveNpy(out + "/jit_y.npy", y);
    std::printf("wrote %s/model.h5 and %s/jit_y.npy (%lld rows)\n", out.c_str(), out.c_str(),
                static_cast<long long>(n));
  } catch (const std::exception &e) {
    std::fprintf(stderr, "kiln-embed-make-model: %s\n", e.what());
    return 1;
  }
  return 0;
}
