//===- Trainer.cpp - what kilnc compiles into a standalone trainer ---------===//
#include "KerasConfig.h"
#include "Train.h"
#include "TrainingConfig.h"

#include "kiln/Emit.h"
#include "kiln/TrainerSpec.h"

namespace kiln {

using namespace detail;

std::vector<std::vector<int64_t>> default_target_shapes(const Model &model) {
  Training &t = model.impl->requireTraining("kilnc compile --train");
  std::vector<std::vector<int64_t>> out;
  for (size_t o = 0; o < model.impl->outputs.size(); ++o)
    out.push_back(t.losses[o].name == "sparse_categorical_crossentropy"
                      ? Shape{-1}
                      : model.impl->outputs[o]->shape);
  return out;
}

mlir::OwningOpRef<mlir::ModuleOp> trainingMLIR(const Model &model,
                                               const std::vector<std::vector<int64_t>> &targets,
                                               mlir::MLIRContext &context) {
  Training t = model.impl->requireTraining("kilnc compile --train");
  t.targetShapes = targets;
  return emitTraining(*model.impl, t, context);
}

TrainerParts trainer_parts(const Model &model, const std::vector<std::vector<int64_t>> &targets) {
  const ModelImpl &m = *model.impl;
  Training t = m.requireTraining("kilnc compile --train");
  t.targetShapes = targets;
  nlohmann::json j;
  j["name"] = m.name;
  j["model_config"] = modelConfig(m, /*keras2=*/true).dump();
  j["training_config"] = trainingConfig(m).dump();
  for (const auto &[name, shape] : m.inputSpecs())
    j["inputs"].push_back({{"name", name}, {"shape", shape}});
  for (const auto &[name, shape] : m.outputSpecs())
    j["outputs"].push_back({{"name", name}, {"shape", shape}});
  j["training"] = trainingSpec(t);
  TrainerParts parts;
  auto append = [&](const Array &a) {
    parts.data.append(reinterpret_cast<const char *>(a.data.data()),
                      a.data.size() * sizeof(float));
  };
  std::vector<Weight *> weights = m.allWeights();
  j["weights"] = nlohmann::json::array();
  for (Weight *w : weights) {
    j["weights"].push_back(
        {{"name", w->name}, {"shape", w->value.shape}, {"trainable", w->trainable}});
    append(w->value);
  }
  // Fresh slots (zeros, or Adagrad's initial accumulator) are made again by the trainer; a
  // model file's optimizer state travels with the weights.
  Training fresh;
  fresh.optimizer = t.optimizer;
  initSlots(fresh, weights);
  bool embedSlots = false;
  for (size_t i = 0; i < t.slots.size() && !embedSlots; ++i)
    for (size_t k = 0; k < t.slots[i].size() && !embedSlots; ++k)
      embedSlots = t.slots[i][k].data != fresh.slots[i][k].data;
  j["slots_embedded"] = embedSlots;
  if (embedSlots)
    for (const auto &perWeight : t.slots)
      for (const Array &a : perWeight)
        append(a);
  size_t index = 0;
  j["layers"] = nlohmann::json::array();
  for (const auto &l : m.layers) {
    nlohmann::json ids = nlohmann::json::array();
    for (size_t k = 0; k < l->weights.size(); ++k)
      ids.push_back(index++);
    j["layers"].push_back({{"name", l->name}, {"weights", ids}});
  }
  parts.description = j.dump();
  return parts;
}

} // namespace kiln
