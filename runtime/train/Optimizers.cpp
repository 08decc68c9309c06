//===- Optimizers.cpp - optimizers, schedules, losses and metric objects by name -===//
#include "kiln/Error.h"
#include "kiln/Training.h"

#include <cctype>
#include <cmath>
#include <map>
#include <set>
#include <string>

namespace kiln {

namespace detail {
std::string lower(std::string s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (std::isupper(static_cast<unsigned char>(c))) {
      if (i > 0 && !std::isupper(static_cast<unsigned char>(s[i - 1])))
        out += '_';
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      out += c;
    }
  }
  return out;
}
} // namespace detail
using detail::lower;

//===----------------------------------------------------------------------===//
// Optimizers and losses by name.
//===----------------------------------------------------------------------===//

namespace optimizers {
Optimizer::Optimizer(std::string n) : name(lower(std::move(n))) {
  if (name == "adam_w")
    name = "adamw";
  if (name == "r_m_sprop" || name == "r_msprop")
    name = "rmsprop";
  if (name == "s_g_d")
    name = "sgd";
  if (name == "sgd")
    learning_rate = 0.01;
  else if (name == "adamw")
    weight_decay = 0.004;
  else if (name == "adadelta")
    rho = 0.95;
  else if (name == "ftrl")
    initial_accumulator_value = 0.1;
  else if (name != "adam" && name != "rmsprop" && name != "adagrad" && name != "adamax" &&
           name != "nadam")
    throw Error("", "unknown optimizer '" + name +
                        "' (kiln has sgd, adam, adamw, rmsprop, adagrad, adadelta, adamax, "
                        "nadam, ftrl)");
}
namespace {
void applyClip(Optimizer &o, const Clipping &c) {
  o.clipnorm = c.clipnorm;
  o.clipvalue = c.clipvalue;
  o.global_clipnorm = c.global_clipnorm;
  if ((o.clipnorm && o.global_clipnorm) || (o.clipvalue && o.global_clipnorm))
    throw Error("", "at most one of clipnorm and global_clipnorm may be set (as in Keras)");
}
void checkRate(const LearningRate &lr) {
  if (!(lr.value > 0) || !std::isfinite(lr.value))
    throw Error("", "learning_rate must be a positive number, got " + std::to_string(lr.value));
}
void setRate(Optimizer &o, const LearningRate &lr) {
  checkRate(lr);
  o.learning_rate = lr.value;
  o.schedule = lr.schedule;
}
} // namespace
Optimizer SGD(LearningRate lr, SGDOptions o) {
  Optimizer opt("sgd");
  setRate(opt, lr);
  if (o.momentum < 0 || o.momentum > 1)
    throw Error("", "SGD momentum must be in [0, 1], got " + std::to_string(o.momentum));
  opt.momentum = o.momentum;
  opt.nesterov = o.nesterov;
  applyClip(opt, o.clip);
  return opt;
}
Optimizer Adam(LearningRate lr, AdamOptions o) {
  Optimizer opt("adam");
  setRate(opt, lr);
  opt.beta_1 = o.beta_1, opt.beta_2 = o.beta_2, opt.epsilon = o.epsilon;
  opt.amsgrad = o.amsgrad;
  applyClip(opt, o.clip);
  return opt;
}
Optimizer AdamW(LearningRate lr, AdamWOptions o) {
  Optimizer opt("adamw");
  setRate(opt, lr);
  opt.weight_decay = o.weight_decay;
  opt.beta_1 = o.beta_1, opt.beta_2 = o.beta_2, opt.epsilon = o.epsilon;
  opt.amsgrad = o.amsgrad;
  applyClip(opt, o.clip);
  return opt;
}
Optimizer RMSprop(LearningRate lr, RMSpropOptions o) {
  Optimizer opt("rmsprop");
  setRate(opt, lr);
  opt.rho = o.rho, opt.momentum = o.momentum, opt.epsilon = o.epsilon;
  opt.centered = o.centered;
  applyClip(opt, o.clip);
  return opt;
}
Optimizer Adagrad(LearningRate lr, AdagradOptions o) {
  Optimizer opt("adagrad");
  setRate(opt, lr);
  opt.initial_accumulator_value = o.initial_accumulator_value;
  opt.epsilon = o.epsilon;
  applyClip(opt, o.clip);
  return opt;
}
Optimizer Adadelta(LearningRate lr, AdadeltaOptions o) {
  Optimizer opt("adadelta");
  setRate(opt, lr);
  opt.rho = o.rho, opt.epsilon = o.epsilon;
  applyClip(opt, o.clip);
  return opt;
}
Optimizer Adamax(LearningRate lr, AdamaxOptions o) {
  Optimizer opt("adamax");
  setRate(opt, lr);
  opt.beta_1 = o.beta_1, opt.beta_2 = o.beta_2, opt.epsilon = o.epsilon;
  applyClip(opt, o.clip);
  return opt;
}
Optimizer Nadam(LearningRate lr, NadamOptions o) {
  Optimizer opt("nadam");
  setRate(opt, lr);
  opt.beta_1 = o.beta_1, opt.beta_2 = o.beta_2, opt.epsilon = o.epsilon;
  applyClip(opt, o.clip);
  return opt;
}
Optimizer Ftrl(LearningRate lr, FtrlOptions o) {
  Optimizer opt("ftrl");
  setRate(opt, lr);
  if (o.learning_rate_power > 0)
    throw Error("", "Ftrl learning_rate_power must be <= 0, got " +
                        std::to_string(o.learning_rate_power));
  if (o.initial_accumulator_value < 0 || o.l1_regularization_strength < 0 ||
      o.l2_regularization_strength < 0 || o.l2_shrinkage_regularization_strength < 0)
    throw Error("", "Ftrl's accumulator value and regularization strengths must be >= 0");
  opt.learning_rate_power = o.learning_rate_power;
  opt.initial_accumulator_value = o.initial_accumulator_value;
  opt.l1_regularization_strength = o.l1_regularization_strength;
  opt.l2_regularization_strength = o.l2_regularization_strength;
  opt.l2_shrinkage_regularization_strength = o.l2_shrinkage_regularization_strength;
  opt.beta = o.beta;
  applyClip(opt, o.clip);
  return opt;
}

namespace schedules {
double LearningRateSchedule::operator()(int64_t step) const {
  double s = double(step);
  if (name == "exponential_decay") {
    double p = s / double(decay_steps);
    if (staircase)
      p = std::floor(p);
    return initial_learning_rate * std::pow(decay_rate, p);
  }
  if (name == "piecewise_constant_decay") {
    for (size_t i = 0; i < boundaries.size(); ++i)
      if (step <= boundaries[i])
        return values[i];
    return values.back();
  }
  // cosine_decay (Keras 3, with its linear warmup)
  double initial = initial_learning_rate;
  if (warmup_target) {
    if (step < warmup_steps)
      return initial + (*warmup_target - initial) * s / double(warmup_steps);
    initial = *warmup_target;
    s -= double(warmup_steps);
  }
  s = std::min(s, double(decay_steps));
  double cosine = 0.5 * (1.0 + std::cos(M_PI * s / double(decay_steps)));
  return initial * ((1.0 - alpha) * cosine + alpha);
}
LearningRateSchedule ExponentialDecay(double initial, int64_t steps, double rate, bool stair) {
  if (steps <= 0)
    throw Error("", "ExponentialDecay: decay_steps must be positive");
  LearningRateSchedule s;
  s.name = "exponential_decay";
  s.initial_learning_rate = initial, s.decay_steps = steps, s.decay_rate = rate;
  s.staircase = stair;
  return s;
}
LearningRateSchedule PiecewiseConstantDecay(std::vector<int64_t> boundaries,
                                            std::vector<double> values) {
  if (values.size() != boundaries.size() + 1)
    throw Error("", "PiecewiseConstantDecay: values must have one more entry than boundaries");
  LearningRateSchedule s;
  s.name = "piecewise_constant_decay";
  s.initial_learning_rate = values[0];
  s.boundaries = std::move(boundaries), s.values = std::move(values);
  return s;
}
LearningRateSchedule CosineDecay(double initial, int64_t steps, double alpha,
                                 std::optional<double> warmupTarget, int64_t warmupSteps) {
  if (steps <= 0)
    throw Error("", "CosineDecay: decay_steps must be positive");
  LearningRateSchedule s;
  s.name = "cosine_decay";
  s.initial_learning_rate = initial, s.decay_steps = steps, s.alpha = alpha;
  s.warmup_target = warmupTarget, s.warmup_steps = warmupSteps;
  return s;
}
} // namespace schedules

} // namespace optimizers

namespace metrics {
Metric AUC(AUCOptions o) {
  if (o.num_thresholds <= 1)
    throw Error("", "AUC: num_thresholds must be an integer > 1, got " +
                        std::to_string(o.num_thresholds));
  if (o.curve != "ROC" && o.curve != "PR")
    throw Error("", "AUC: curve must be \"ROC\" or \"PR\", got \"" + o.curve + "\"");
  if (o.summation_method != "interpolation" && o.summation_method != "minoring" &&
      o.summation_method != "majoring")
    throw Error("", "AUC: summation_method must be \"interpolation\", \"minoring\" or "
                    "\"majoring\", got \"" + o.summation_method + "\"");
  Metric m(o.name);
  m.kind = "auc";
  m.num_thresholds = o.num_thresholds;
  m.curve = o.curve, m.summation_method = o.summation_method;
  m.multi_label = o.multi_label, m.from_logits = o.from_logits;
  return m;
}
Metric MeanIoU(int64_t numClasses, MeanIoUOptions o) {
  if (numClasses < 2)
    throw Error("", "MeanIoU: num_classes must be at least 2, got " + std::to_string(numClasses));
  Metric m(o.name);
  m.kind = "mean_io_u";
  m.num_classes = numClasses;
  m.ignore_class = o.ignore_class;
  m.sparse_y_true = o.sparse_y_true, m.sparse_y_pred = o.sparse_y_pred;
  return m;
}
} // namespace metrics

namespace losses {
Loss::Loss(std::string n) : name(lower(std::move(n))) {
  static const std::map<std::string, std::string> aliases = {
      {"mse", "mean_squared_error"},
      {"mae", "mean_absolute_error"},
      {"mape", "mean_absolute_percentage_error"},
      {"msle", "mean_squared_logarithmic_error"},
      {"huber_loss", "huber"},
      {"logcosh", "log_cosh"},
      {"kld", "kl_divergence"},
      {"k_l_divergence", "kl_divergence"},
      {"kullback_leibler_divergence", "kl_divergence"}};
  if (auto it = aliases.find(name); it != aliases.end())
    name = it->second;
  static const std::set<std::string> known = {
      "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
      "mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
      "mean_squared_logarithmic_error", "huber", "log_cosh", "poisson", "kl_divergence",
      "hinge", "squared_hinge", "categorical_hinge", "cosine_similarity"};
  if (!known.count(name)) {
    std::string list;
    for (const auto &k : known)
      list += (list.empty() ? "" : ", ") + k;
    throw Error("", "unknown loss '" + name + "' (kiln has " + list + ")");
  }
}
Loss BinaryCrossentropy(bool fromLogits) {
  Loss l("binary_crossentropy");
  l.from_logits = fromLogits;
  return l;
}
Loss CategoricalCrossentropy(bool fromLogits) {
  Loss l("categorical_crossentropy");
  l.from_logits = fromLogits;
  return l;
}
Loss SparseCategoricalCrossentropy(bool fromLogits) {
  Loss l("sparse_categorical_crossentropy");
  l.from_logits = fromLogits;
  return l;
}
Loss Huber(double delta) {
  Loss l("huber");
  l.delta = delta;
  return l;
}
} // namespace losses

} // namespace kiln
