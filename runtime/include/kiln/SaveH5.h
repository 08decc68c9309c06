//===- SaveH5.h - Keras' HDF5 model files: layer weights and optimizer state -===//
//
// What model.save writes to a .h5 file, from plain tables (layer names and their weights), so
// that kiln::Model::save and the standalone trainer write the same bytes.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_RUNTIME_SAVEH5_H
#define KILN_RUNTIME_SAVEH5_H

#include "kiln/FitLoop.h"
#include "kiln/H5.h"

#include <string>
#include <vector>

namespace kiln::detail {

/// The keras_version and backend kiln writes into .h5 files.
inline constexpr const char *kWrittenKerasVersion = "2.15.0";
inline constexpr const char *kWrittenBackend = "tensorflow";

/// A layer of the model file, in model.layers order, with its weights in get_weights() order.
struct LayerWeights {
  std::string name;
  std::vector<const Weight *> weights;
};

/// Keras' class name of a kiln optimizer name ("adam" -> "Adam").
std::string kerasClass(const std::string &kilnName);
/// Slot names per optimizer as tf.keras 2.x calls them, in kiln's slot order.
std::vector<std::string> slotNames(const optimizers::Optimizer &o);
/// tf.keras creates RMSprop's momentum slots before the centered ones.
std::vector<size_t> kerasSlotOrder(const optimizers::Optimizer &o, size_t count);
/// A weight's name without ":0".
std::string variableName(const Weight &w);

/// Every layer's group (sorted by name, as Keras does) and layer_names under `root`.
void writeLayerWeights(h5::Writer &w, const std::string &root,
                       const std::vector<LayerWeights> &layers);
/// The optimizer's state as tf.keras 2.x writes it: group optimizer_weights with attribute
/// weight_names, `<Class>/iter:0`, and one dataset per slot and weight,
/// `<Class>/<layer>/<weight>/<slot>:0` (Adam: m, v, vhat). `trainable` are the weights with
/// slots, in get_weights() order.
void writeOptimizerWeights(h5::Writer &w, const Training &t,
                           const std::vector<const Weight *> &trainable);
/// model.save to .h5: the root attributes (model_config; training_config when `t`), the layer
/// weights under model_weights and, when `t`, the optimizer's state. Written to a temporary
/// file renamed over `path`.
void writeModelH5(const std::string &path, const std::string &modelConfig,
                  const std::string &trainingConfig, const std::vector<LayerWeights> &layers,
                  const Training *t);

} // namespace kiln::detail

#endif // KILN_RUNTIME_SAVEH5_H
