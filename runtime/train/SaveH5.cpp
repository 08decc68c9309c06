//===- SaveH5.cpp - Keras' HDF5 model files: layer weights and optimizer state -===//
#include "kiln/SaveH5.h"

#include "kiln/Error.h"

#include <algorithm>

namespace kiln::detail {

namespace {
struct OptimizerNames {
  const char *kiln, *keras;
};
constexpr OptimizerNames kOptimizers[] = {
    {"sgd", "SGD"},         {"adam", "Adam"},     {"adamw", "AdamW"},
    {"rmsprop", "RMSprop"}, {"adagrad", "Adagrad"}, {"adadelta", "Adadelta"},
    {"adamax", "Adamax"},   {"nadam", "Nadam"},   {"ftrl", "Ftrl"}};

} // namespace

std::string kerasClass(const std::string &kilnName) {
  for (const auto &o : kOptimizers)
    if (kilnName == o.kiln)
      return o.keras;
  throw Error("", "internal: no Keras class for optimizer '" + kilnName + "'");
}
/// Slot names per optimizer as tf.keras 2.x calls them, in kiln's slot order.
std::vector<std::string> slotNames(const optimizers::Optimizer &o) {
  const std::string &n = o.name;
  std::vector<std::string> s;
  if (n == "sgd" && o.momentum != 0.0)
    s = {"momentum"};
  else if (n == "adam" || n == "adamw") {
    s = {"m", "v"};
    if (o.amsgrad)
      s.push_back("vhat");
  } else if (n == "rmsprop") {
    s = {"rms"};
    if (o.centered)
      s.push_back("mg");
    if (o.momentum > 0.0)
      s.push_back("momentum");
  } else if (n == "adagrad")
    s = {"accumulator"};
  else if (n == "adadelta")
    s = {"accum_grad", "accum_var"};
  else if (n == "adamax" || n == "nadam")
    s = {"m", "v"};
  else if (n == "ftrl")
    s = {"accumulator", "linear"};
  if (int(s.size()) != slotCount(o))
    throw Error("", "internal: slot names for '" + n + "' do not match its slot count");
  return s;
}

/// tf.keras creates RMSprop's momentum slots before the centered ones.
std::vector<size_t> kerasSlotOrder(const optimizers::Optimizer &o, size_t count) {
  std::vector<size_t> order(count);
  for (size_t i = 0; i < count; ++i)
    order[i] = i;
  if (o.name == "rmsprop" && count == 3)
    order = {0, 2, 1};
  return order;
}

std::string variableName(const Weight &w) {
  std::string n = w.name;
  if (n.size() > 2 && n.compare(n.size() - 2, 2, ":0") == 0)
    n.resize(n.size() - 2);
  return n;
}

void writeLayerWeights(h5::Writer &w, const std::string &root,
                       const std::vector<LayerWeights> &layers) {
  std::string prefix = root.empty() ? "" : root + "/";
  std::vector<std::string> names;
  for (const LayerWeights &l : layers)
    names.push_back(l.name);
  w.stringListAttr(root, "layer_names", names);
  w.stringAttr(root, "backend", kWrittenBackend);
  w.stringAttr(root, "keras_version", kWrittenKerasVersion);
  std::vector<const LayerWeights *> sorted;
  for (const LayerWeights &l : layers)
    sorted.push_back(&l);
  std::sort(sorted.begin(), sorted.end(),
            [](const auto *a, const auto *b) { return a->name < b->name; });
  for (const LayerWeights *l : sorted) {
    std::string g = prefix + l->name;
    w.group(g);
    std::vector<std::string> weightNames;
    for (const Weight *wt : l->weights)
      weightNames.push_back(wt->name);
    w.stringListAttr(g, "weight_names", weightNames);
    for (const Weight *wt : l->weights)
      w.dataset(g + "/" + wt->name, wt->value);
  }
}

void writeOptimizerWeights(h5::Writer &w, const Training &t,
                           const std::vector<const Weight *> &weights) {
  std::string cls = kerasClass(t.optimizer.name);
  std::vector<std::string> slots = slotNames(t.optimizer);
  std::vector<std::string> names = {cls + "/iter:0"};
  if (t.optimizer.name == "nadam")
    names.push_back(cls + "/momentum_cache:0");
  for (size_t k : kerasSlotOrder(t.optimizer, slots.size()))
    for (const Weight *wt : weights)
      names.push_back(cls + "/" + variableName(*wt) + "/" + slots[k] + ":0");
  w.group("optimizer_weights");
  w.stringListAttr("optimizer_weights", "weight_names", names);
  w.scalar("optimizer_weights/" + cls + "/iter:0", t.iterations);
  // Keras keeps Nadam's product in float32; float64 makes a resumed fit continue exactly.
  if (t.optimizer.name == "nadam")
    w.scalar("optimizer_weights/" + cls + "/momentum_cache:0", t.nadamProduct);
  for (size_t k : kerasSlotOrder(t.optimizer, slots.size()))
    for (size_t i = 0; i < weights.size(); ++i)
      w.dataset("optimizer_weights/" + cls + "/" + variableName(*weights[i]) + "/" + slots[k] +
                    ":0",
                t.slots[i][k]);
}

void writeModelH5(const std::string &path, const std::string &modelConfig,
                  const std::string &trainingConfig, const std::vector<LayerWeights> &layers,
                  const Training *t) {
  h5::Writer w(path);
  w.stringAttr("", "keras_version", kWrittenKerasVersion);
  w.stringAttr("", "backend", kWrittenBackend);
  w.stringAttr("", "model_config", modelConfig);
  if (t)
    w.stringAttr("", "training_config", trainingConfig);
  w.group("model_weights");
  writeLayerWeights(w, "model_weights", layers);
  if (t) {
    std::vector<const Weight *> trainable; // the ones with optimizer slots
    for (const LayerWeights &l : layers)
      for (const Weight *wt : l.weights)
        if (wt->trainable)
          trainable.push_back(wt);
    writeOptimizerWeights(w, *t, trainable);
  }
  w.commit();
}

} // namespace kiln::detail
