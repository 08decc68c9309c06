//===- TrainingConfig.h - Keras' training_config and optimizer weights in .h5 files -===//
#ifndef KILN_FRONTEND_TRAININGCONFIG_H
#define KILN_FRONTEND_TRAININGCONFIG_H

#include "kiln/H5.h"
#include "Train.h"

#include <nlohmann/json.hpp>

namespace kiln::detail {

/// Keras' training_config of a compiled model: loss, metrics and an optimizer_config with
/// Keras 3's class names and config keys.
nlohmann::json trainingConfig(const ModelImpl &m);

/// Compiles `model` from a training_config in the tf.keras 2.x or the Keras 3 spelling.
/// Errors name `where` and the key. With `keepState`, the optimizer's slots and step count
/// carry over when the model was compiled before with the same kind of optimizer (Keras
/// keeps a reused optimizer object's state).
void compileFromTrainingConfig(Model &model, const nlohmann::json &config,
                               const std::string &where, bool keepState);

/// Restores what writeOptimizerWeights (kiln/SaveH5.h) wrote (and tf.keras 2.x's spellings of
/// it) into the compiled model. Returns an explanation, and leaves the state fresh, when the
/// file's optimizer weights do not fit the compiled optimizer (Keras warns and starts afresh).
std::string readOptimizerWeights(ModelImpl &m, const h5::Reader &r);

/// Keras 3's compile_config (config.json of a .keras archive): the training_config with the
/// optimizer under "optimizer" as {module, class_name, config, registered_name}.
nlohmann::json compileConfig(const ModelImpl &m);
/// The training_config that a Keras 3 compile_config stands for.
nlohmann::json trainingConfigFromCompileConfig(const nlohmann::json &compileConfig);

/// The optimizer's state as Keras 3 writes it in model.weights.h5: optimizer/vars/<i> holding
/// the optimizer's `variables` in creation order: iterations (int64), learning_rate (float32,
/// absent under a schedule), the slots in the order the optimizer's build() creates them
/// (Adam: momentum and velocity interleaved per weight, then AMSGrad's velocity_hat), Nadam's
/// u_product last (float64 here, so that a resumed fit continues exactly).
void writeKeras3OptimizerVars(const ModelImpl &m, h5::Writer &w);

/// Restores what writeKeras3OptimizerVars wrote into the compiled model; returns an
/// explanation, leaving the state fresh, when the file's variables do not fit.
std::string readKeras3OptimizerVars(ModelImpl &m, const h5::Reader &r);

} // namespace kiln::detail

#endif // KILN_FRONTEND_TRAININGCONFIG_H
