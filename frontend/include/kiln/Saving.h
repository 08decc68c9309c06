//===- Saving.h - Keras model files: JSON configs, HDF5 models and weights, .keras -===//
#ifndef KILN_SAVING_H
#define KILN_SAVING_H

#include "kiln/Layers.h"
#include "kiln/Model.h"

#include <nlohmann/json.hpp>

#include <string>

namespace kiln {

/// A model from Keras' model config JSON text (`model.to_json()`, or the `model_config`
/// attribute of a .h5): Sequential or Functional, in the tf.keras 2.x or the Keras 3 spelling.
/// Weights are freshly initialized. Throws kiln::Error naming the layer and its class for a
/// layer kiln does not have, and naming the option for one it does not support. The text is
/// parsed with a size cap (64 MiB) and a nesting cap (256).
Model model_from_json(const std::string &json);
/// The same from a parsed config ({"class_name": "Sequential"|"Functional"|"Model", ...}).
Model model_from_config(const nlohmann::json &config);

/// A layer from Keras' serialized layer ({"class_name": "Dense", "config": {...}}).
Layer layer_from_config(const nlohmann::json &layer);

/// Loads a model saved by Keras or kiln: a full-model .h5 (tf.keras 2.x, or Keras 3's legacy
/// h5), or a Keras 3 .keras archive. Throws kiln::Error naming the file and the layer or
/// dataset for any malformed input.
Model load_model(const std::string &path);

/// A model from a config JSON file and a weights-only .h5 (`--config m.json --weights w.h5`).
Model load_model(const std::string &configPath, const std::string &weightsPath);

} // namespace kiln

#endif // KILN_SAVING_H
