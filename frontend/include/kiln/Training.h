//===- Training.h - compile / fit / evaluate: losses, optimizers, metrics --===//
#ifndef KILN_TRAINING_H
#define KILN_TRAINING_H

#include "kiln/Array.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace kiln {

namespace optimizers {

/// An optimizer with Keras 3's update rule, defaults and names. Build one with SGD(), Adam(),
/// ... or from a name ("adam", "sgd", "rmsprop", "adagrad", "adamw") for Keras' defaults.
struct Optimizer {
  std::string name = "rmsprop";
  double learning_rate = 0.001;
  double beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-7;
  double momentum = 0.0, rho = 0.9, weight_decay = 0.0, initial_accumulator_value = 0.1;
  bool nesterov = false, amsgrad = false, centered = false;
  std::optional<double> clipnorm, clipvalue, global_clipnorm;

  Optimizer() = default;
  Optimizer(const char *name) : Optimizer(std::string(name)) {}
  /// Keras' defaults for `name`; throws kiln::Error when kiln has no such optimizer.
  Optimizer(std::string name);
};

struct Clipping {
  std::optional<double> clipnorm, clipvalue, global_clipnorm;
};
struct SGDOptions {
  double momentum = 0.0;
  bool nesterov = false;
  Clipping clip;
};
Optimizer SGD(double learning_rate = 0.01, SGDOptions options = {});
struct AdamOptions {
  double beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-7;
  bool amsgrad = false;
  Clipping clip;
};
Optimizer Adam(double learning_rate = 0.001, AdamOptions options = {});
struct AdamWOptions {
  double weight_decay = 0.004, beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-7;
  bool amsgrad = false;
  Clipping clip;
};
Optimizer AdamW(double learning_rate = 0.001, AdamWOptions options = {});
struct RMSpropOptions {
  double rho = 0.9, momentum = 0.0, epsilon = 1e-7;
  bool centered = false;
  Clipping clip;
};
Optimizer RMSprop(double learning_rate = 0.001, RMSpropOptions options = {});
struct AdagradOptions {
  double initial_accumulator_value = 0.1, epsilon = 1e-7;
  Clipping clip;
};
Optimizer Adagrad(double learning_rate = 0.001, AdagradOptions options = {});

} // namespace optimizers

namespace losses {

/// A Keras loss by name (`categorical_crossentropy`, `mse`, `huber`, ...) and its options.
/// The reduction is Keras' `sum_over_batch_size`.
struct Loss {
  std::string name;
  bool from_logits = false;
  double delta = 1.0; // huber

  Loss() = default;
  Loss(const char *name) : Loss(std::string(name)) {}
  /// Keras' name or alias; throws kiln::Error when kiln has no such loss.
  Loss(std::string name);
};
Loss BinaryCrossentropy(bool from_logits = false);
Loss CategoricalCrossentropy(bool from_logits = false);
Loss SparseCategoricalCrossentropy(bool from_logits = false);
Loss Huber(double delta = 1.0);

} // namespace losses

struct CompileOptions {
  optimizers::Optimizer optimizer = "rmsprop";
  losses::Loss loss;
  std::vector<std::string> metrics;
};

struct FitOptions {
  int64_t batch_size = 32;
  int epochs = 1;
  /// 0 silent, 1 progress bar (one line per epoch when stdout is not a terminal), 2 one line
  /// per epoch; -1 picks 1.
  int verbose = -1;
  bool shuffle = true;
  /// Seeds the shuffling; unset draws from kiln's global generator.
  std::optional<uint64_t> seed;
  /// The last fraction of the samples (before shuffling) is held out for validation.
  double validation_split = 0.0;
  std::vector<Array> validation_x, validation_y;
  int initial_epoch = 0;
  /// Per-sample loss weights, shape (N).
  std::optional<Array> sample_weight;
  /// Loss weight per class index (the label, or the argmax of a one-hot target).
  std::map<int64_t, double> class_weight;
  /// Batches per epoch; 0: all of the data.
  int64_t steps_per_epoch = 0;
};

struct EvaluateOptions {
  int64_t batch_size = 32;
  int verbose = 0;
  std::optional<Array> sample_weight;
};

/// What fit returns: each logged quantity (loss, metrics, val_*) per epoch.
struct History {
  std::map<std::string, std::vector<double>> history;
  std::vector<int> epoch;
};

} // namespace kiln

#endif // KILN_TRAINING_H
