//===- GoldenAppConfig.cpp - a kiln::applications model's Keras config, for make_golden.py -===//
//
// kiln-golden-app-config SPEC: builds the keras.applications model that SPEC (the JSON of a
// golden case's "application" entry) describes and prints
//   {"model_config": <Model::to_json, tf.keras 2.x layout>,
//    "weights": [{"layer": "conv1", "names": ["conv1/kernel:0"], "shapes": [[3, 3, 3, 8]]}, ...]}
// so that test/golden/make_golden.py runs the Keras oracle on exactly the config kiln writes.
//
//===----------------------------------------------------------------------===//
#include "GoldenModel.h"

#include <iostream>

int main(int argc, char **argv) {
  if (argc != 2) {
    std::cerr << "usage: kiln-golden-app-config SPEC_JSON\n";
    return 2;
  }
  try {
    kiln::backend::clear_session();
    kiln::Model model = golden::buildApplication(golden::json::parse(argv[1]));
    golden::json out;
    out["model_config"] = golden::json::parse(model.to_json(-1, /*keras2=*/true));
    out["weights"] = golden::json::array();
    for (const kiln::Layer &layer : model.layers()) {
      std::vector<std::string> names = layer.weight_names();
      if (names.empty())
        continue;
      golden::json shapes = golden::json::array();
      for (const kiln::Array &w : layer.get_weights())
        shapes.push_back(w.shape);
      out["weights"].push_back({{"layer", layer.name()}, {"names", names}, {"shapes", shapes}});
    }
    std::cout << out.dump() << "\n";
  } catch (const std::exception &e) {
    std::cerr << "kiln-golden-app-config: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
