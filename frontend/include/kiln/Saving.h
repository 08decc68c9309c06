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
/// h5), a Keras 3 .keras archive, or a TensorFlow.js layers model (model.json, its weight
/// shards next to it). Throws kiln::Error naming the file and the layer, dataset or manifest
/// entry for any malformed input. As Keras' `compile=True`, a .h5 with a training_config (a
/// .keras with a compile_config) comes back compiled, with the optimizer's saved state (slots
/// and step count) restored, so that fit continues where it stopped; `.compile = false` skips
/// the training config.
struct LoadOptions {
  bool compile = true;
};
Model load_model(const std::string &path, LoadOptions options = {});

/// Keras' training_config of a compiled model (what save() writes): loss, metrics and
/// optimizer_config with Keras 3's class names and config keys. Throws before compile().
nlohmann::json training_config(const Model &model);
/// Compiles `model` from a training_config in the tf.keras 2.x or the Keras 3 spelling (loss
/// as a name or {class_name, config}, per output as a list or dict; metrics possibly nested
/// per output). Throws kiln::Error naming the key for anything kiln cannot honour. With
/// `keep_optimizer_state`, a model compiled before with the same kind of optimizer keeps its
/// slots and step count.
void compile_from_training_config(Model &model, const nlohmann::json &config,
                                  bool keep_optimizer_state = false);

/// A model from a config JSON file and a weights-only .h5 (`--config m.json --weights w.h5`).
Model load_model(const std::string &configPath, const std::string &weightsPath);

} // namespace kiln

#endif // KILN_SAVING_H
