//===- Training.h - compile / fit / evaluate: losses, optimizers, metrics --===//
#ifndef KILN_TRAINING_H
#define KILN_TRAINING_H

#include "kiln/Array.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace kiln {

namespace optimizers {

namespace schedules {
/// A learning rate that changes with the optimizer's step count (Keras' LearningRateSchedule).
struct LearningRateSchedule {
  std::string name; // exponential_decay, piecewise_constant_decay, cosine_decay
  double initial_learning_rate = 0.0;
  int64_t decay_steps = 1;
  double decay_rate = 1.0, alpha = 0.0;
  bool staircase = false;
  std::vector<int64_t> boundaries;
  std::vector<double> values;
  std::optional<double> warmup_target;
  int64_t warmup_steps = 0;
  /// The learning rate at `step` (0 for the first update), as Keras computes it.
  double operator()(int64_t step) const;
};
/// initial_learning_rate * decay_rate ^ (step / decay_steps), the exponent floored if staircase.
LearningRateSchedule ExponentialDecay(double initial_learning_rate, int64_t decay_steps,
                                      double decay_rate, bool staircase = false);
/// values[i] while step <= boundaries[i]; values.back() after the last boundary.
LearningRateSchedule PiecewiseConstantDecay(std::vector<int64_t> boundaries,
                                            std::vector<double> values);
/// Cosine decay to alpha * initial over decay_steps, after an optional linear warmup.
LearningRateSchedule CosineDecay(double initial_learning_rate, int64_t decay_steps,
                                 double alpha = 0.0, std::optional<double> warmup_target = {},
                                 int64_t warmup_steps = 0);
} // namespace schedules

/// A learning rate: a number, or a schedule.
struct LearningRate {
  LearningRate(double value) : value(value) {}
  LearningRate(schedules::LearningRateSchedule s)
      : value(s.initial_learning_rate), schedule(std::move(s)) {}
  double value;
  std::optional<schedules::LearningRateSchedule> schedule;
};

/// An optimizer with Keras 3's update rule, defaults and names. Build one with SGD(), Adam(),
/// ... or from a name ("adam", "sgd", "rmsprop", "adagrad", "adamw") for Keras' defaults.
struct Optimizer {
  std::string name = "rmsprop";
  double learning_rate = 0.001;
  double beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-7;
  double momentum = 0.0, rho = 0.9, weight_decay = 0.0, initial_accumulator_value = 0.1;
  // Ftrl.
  double learning_rate_power = -0.5, l1_regularization_strength = 0.0,
         l2_regularization_strength = 0.0, l2_shrinkage_regularization_strength = 0.0, beta = 0.0;
  std::optional<schedules::LearningRateSchedule> schedule;
  bool nesterov = false, amsgrad = false, centered = false;
  std::optional<double> clipnorm, clipvalue, global_clipnorm;

  Optimizer() = default;
  Optimizer(const char *name) : Optimizer(std::string(name)) {}
  /// Keras' defaults for `name`; throws kiln::Error when kiln has no such optimizer.
  Optimizer(std::string name);

  /// The learning rate of the update after `iterations` updates.
  double learningRateAt(int64_t iterations) const {
    return schedule ? (*schedule)(iterations) : learning_rate;
  }
};

struct Clipping {
  std::optional<double> clipnorm, clipvalue, global_clipnorm;
};
struct SGDOptions {
  double momentum = 0.0;
  bool nesterov = false;
  Clipping clip;
};
Optimizer SGD(LearningRate learning_rate = 0.01, SGDOptions options = {});
struct AdamOptions {
  double beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-7;
  bool amsgrad = false;
  Clipping clip;
};
Optimizer Adam(LearningRate learning_rate = 0.001, AdamOptions options = {});
struct AdamWOptions {
  double weight_decay = 0.004, beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-7;
  bool amsgrad = false;
  Clipping clip;
};
Optimizer AdamW(LearningRate learning_rate = 0.001, AdamWOptions options = {});
struct RMSpropOptions {
  double rho = 0.9, momentum = 0.0, epsilon = 1e-7;
  bool centered = false;
  Clipping clip;
};
Optimizer RMSprop(LearningRate learning_rate = 0.001, RMSpropOptions options = {});
struct AdagradOptions {
  double initial_accumulator_value = 0.1, epsilon = 1e-7;
  Clipping clip;
};
Optimizer Adagrad(LearningRate learning_rate = 0.001, AdagradOptions options = {});

struct AdadeltaOptions {
  double rho = 0.95, epsilon = 1e-7;
  Clipping clip;
};
Optimizer Adadelta(LearningRate learning_rate = 0.001, AdadeltaOptions options = {});
struct AdamaxOptions {
  double beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-7;
  Clipping clip;
};
Optimizer Adamax(LearningRate learning_rate = 0.001, AdamaxOptions options = {});
struct NadamOptions {
  double beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-7;
  Clipping clip;
};
Optimizer Nadam(LearningRate learning_rate = 0.001, NadamOptions options = {});
struct FtrlOptions {
  double learning_rate_power = -0.5, initial_accumulator_value = 0.1,
         l1_regularization_strength = 0.0, l2_regularization_strength = 0.0,
         l2_shrinkage_regularization_strength = 0.0, beta = 0.0;
  Clipping clip;
};
Optimizer Ftrl(LearningRate learning_rate = 0.001, FtrlOptions options = {});

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

namespace metrics {

/// A compile() metric: a Keras name ("accuracy", "mse", "auc", ...) or an object made by AUC()
/// or MeanIoU() with its options. `name` is what History and the progress bar show.
struct Metric {
  Metric(const char *name) : Metric(std::string(name)) {}
  Metric(std::string name) : name(std::move(name)) {}
  std::string name;
  /// The metric function; empty for a name, resolved by compile().
  std::string kind;
  // AUC
  int64_t num_thresholds = 200;
  std::string curve = "ROC", summation_method = "interpolation";
  bool multi_label = false, from_logits = false;
  // MeanIoU
  int64_t num_classes = 0;
  std::optional<int64_t> ignore_class;
  bool sparse_y_true = true, sparse_y_pred = true;
};

struct AUCOptions {
  /// Thresholds: -1e-7, then num_thresholds - 2 evenly spaced in (0, 1), then 1 + 1e-7.
  int64_t num_thresholds = 200;
  /// "ROC" or "PR".
  std::string curve = "ROC";
  /// "interpolation", "minoring" or "majoring".
  std::string summation_method = "interpolation";
  std::string name = "auc";
  /// Each label's AUC, averaged over the labels; false: all the values as one label.
  bool multi_label = false;
  /// Predictions are logits: a sigmoid is applied first.
  bool from_logits = false;
};
/// The area under the ROC or PR curve from confusion counts at fixed thresholds, accumulated
/// over batches (Keras' keras.metrics.AUC, without explicit thresholds or label_weights).
/// Throws kiln::Error for num_thresholds < 2 or an unknown curve or summation method.
Metric AUC(AUCOptions options = {});

struct MeanIoUOptions {
  std::string name = "mean_io_u";
  /// A class left out of the mean (and of the confusion matrix), as Keras' ignore_class.
  std::optional<int64_t> ignore_class;
  /// false: targets / predictions are one-hot or scores along the last axis, reduced by argmax.
  bool sparse_y_true = true, sparse_y_pred = true;
};
/// The mean over classes of TP / (TP + FP + FN) from a confusion matrix accumulated over
/// batches, classes that never occur left out of the mean (Keras' keras.metrics.MeanIoU).
/// Integer targets and predictions are cast as Keras casts them (truncated toward zero).
Metric MeanIoU(int64_t num_classes, MeanIoUOptions options = {});

/// compile()'s metrics: Metric objects, built from names too (so a std::vector<std::string>
/// of names converts).
struct MetricList : std::vector<Metric> {
  using std::vector<Metric>::vector;
  MetricList() = default;
  MetricList(std::vector<Metric> list) : std::vector<Metric>(std::move(list)) {}
  MetricList(const std::vector<std::string> &names)
      : std::vector<Metric>(names.begin(), names.end()) {}
};

} // namespace metrics

class Model;
namespace detail {
class FitModel;
}

/// What callbacks see: the loss and metrics so far (Keras' `logs`).
using Logs = std::map<std::string, double>;

/// What fit / evaluate / predict tell their callbacks before the first hook (Keras'
/// `callback.params`).
struct CallbackParams {
  /// 0 silent, 1 progress bar, 2 one line per epoch.
  int verbose = 0;
  int epochs = 1;
  /// Batches per epoch (or per evaluate / predict run); 0 when unknown.
  int64_t steps = 0;
  /// Samples per epoch and the batch size, where the data are arrays; 0 when unknown.
  int64_t samples = 0, batch_size = 0;
  /// The names fit reports, in order: "loss", the metrics, then their "val_" names.
  std::vector<std::string> metrics;
};

/// A Keras callback: override the hooks you need. fit / evaluate / predict set `model` before
/// the first hook; a callback may call model->stop_training(true) or change
/// model->optimizer().learning_rate.
class Callback {
public:
  virtual ~Callback() = default;
  virtual void on_train_begin(Logs &logs) {}
  virtual void on_train_end(Logs &logs) {}
  virtual void on_epoch_begin(int epoch, Logs &logs) {}
  virtual void on_epoch_end(int epoch, Logs &logs) {}
  virtual void on_train_batch_begin(int64_t batch, Logs &logs) {}
  virtual void on_train_batch_end(int64_t batch, Logs &logs) {}
  virtual void on_test_begin(Logs &logs) {}
  virtual void on_test_end(Logs &logs) {}
  virtual void on_test_batch_begin(int64_t batch, Logs &logs) {}
  virtual void on_test_batch_end(int64_t batch, Logs &logs) {}
  virtual void on_predict_begin(Logs &logs) {}
  virtual void on_predict_end(Logs &logs) {}
  virtual void on_predict_batch_begin(int64_t batch, Logs &logs) {}
  virtual void on_predict_batch_end(int64_t batch, Logs &logs) {}
  /// Asked by fit after on_train_begin: an epoch >= 0 to start at instead of initial_epoch.
  virtual int resume_epoch() { return -1; }
  Model *model = nullptr;
  CallbackParams params;
  /// What fit / evaluate run on (set with `model`; in a standalone trainer, without one).
  /// Internal: callbacks reach the weights and the training state through it.
  detail::FitModel *fit_model = nullptr;
};

struct CompileOptions {
  optimizers::Optimizer optimizer = "rmsprop";
  losses::Loss loss;
  /// Names ("accuracy", "auc", ...) or objects (metrics::AUC(...), metrics::MeanIoU(...)).
  metrics::MetricList metrics;
  /// Where fit, evaluate and predict run: "cpu", or "gpu" (NVIDIA, through kiln's PTX kernels
  /// and the CUDA driver; asking for it on a machine without one is an error at compile()).
  std::string device = "cpu";
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
  std::vector<std::shared_ptr<Callback>> callbacks;
};

struct EvaluateOptions {
  int64_t batch_size = 32;
  int verbose = 0;
  std::optional<Array> sample_weight;
  std::vector<std::shared_ptr<Callback>> callbacks;
};

/// What fit returns: each logged quantity (loss, metrics, val_*) per epoch.
struct History {
  std::map<std::string, std::vector<double>> history;
  std::vector<int> epoch;
};

} // namespace kiln

#endif // KILN_TRAINING_H
