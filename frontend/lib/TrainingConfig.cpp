//===- TrainingConfig.cpp - Keras' training_config and optimizer weights in .h5 files -===//
//
// The layout is Keras' (keras/src/legacy/saving/legacy_h5_format.py, saving_utils.py): the
// root attribute training_config holds the compile arguments as JSON, with the optimizer as
// optimizer_config {class_name, config}; the group optimizer_weights holds the optimizer's
// variables by name. kiln writes Keras 3's optimizer config keys and tf.keras 2.x's variable
// names, and reads both generations' spellings.
//
//===----------------------------------------------------------------------===//
#include "TrainingConfig.h"
#include "kiln/SaveH5.h"

#include "kiln/Saving.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <iostream>
#include <map>
#include <regex>
#include <set>

namespace kiln::detail {

using json = nlohmann::json;

namespace {


std::string lowerAscii(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

/// Keras 3's naming.to_snake_case.
std::string snakeCase(const std::string &cls) {
  std::string s = std::regex_replace(cls, std::regex("(.)([A-Z][a-z]+)"), "$1_$2");
  s = std::regex_replace(s, std::regex("([a-z])([A-Z])"), "$1_$2");
  return lowerAscii(s);
}

json nullable(const std::optional<double> &v) { return v ? json(*v) : json(nullptr); }

json scheduleConfig(const optimizers::schedules::LearningRateSchedule &s) {
  json c;
  std::string cls;
  if (s.name == "exponential_decay") {
    cls = "ExponentialDecay";
    c = {{"initial_learning_rate", s.initial_learning_rate}, {"decay_steps", s.decay_steps},
         {"decay_rate", s.decay_rate}, {"staircase", s.staircase}, {"name", "ExponentialDecay"}};
  } else if (s.name == "piecewise_constant_decay") {
    cls = "PiecewiseConstantDecay";
    c = {{"boundaries", s.boundaries}, {"values", s.values}, {"name", "PiecewiseConstant"}};
  } else {
    cls = "CosineDecay";
    c = {{"initial_learning_rate", s.initial_learning_rate}, {"decay_steps", s.decay_steps},
         {"alpha", s.alpha}, {"name", "CosineDecay"}, {"warmup_target", nullable(s.warmup_target)},
         {"warmup_steps", s.warmup_steps}};
  }
  return {{"module", "keras.optimizers.schedules"}, {"class_name", cls}, {"config", c},
          {"registered_name", nullptr}};
}

json optimizerConfig(const optimizers::Optimizer &o) {
  json c = {{"name", o.name},
            {"learning_rate", o.schedule ? scheduleConfig(*o.schedule) : json(o.learning_rate)},
            {"weight_decay", o.name == "adamw" ? json(o.weight_decay) : json(nullptr)},
            {"clipnorm", nullable(o.clipnorm)},
            {"global_clipnorm", nullable(o.global_clipnorm)},
            {"clipvalue", nullable(o.clipvalue)},
            {"use_ema", false},
            {"ema_momentum", 0.99},
            {"ema_overwrite_frequency", nullptr},
            {"loss_scale_factor", nullptr},
            {"gradient_accumulation_steps", nullptr}};
  const std::string &n = o.name;
  if (n == "sgd")
    c["momentum"] = o.momentum, c["nesterov"] = o.nesterov;
  else if (n == "adam" || n == "adamw")
    c["beta_1"] = o.beta_1, c["beta_2"] = o.beta_2, c["epsilon"] = o.epsilon,
    c["amsgrad"] = o.amsgrad;
  else if (n == "rmsprop")
    c["rho"] = o.rho, c["momentum"] = o.momentum, c["epsilon"] = o.epsilon,
    c["centered"] = o.centered;
  else if (n == "adagrad")
    c["initial_accumulator_value"] = o.initial_accumulator_value, c["epsilon"] = o.epsilon;
  else if (n == "adadelta")
    c["rho"] = o.rho, c["epsilon"] = o.epsilon;
  else if (n == "adamax" || n == "nadam")
    c["beta_1"] = o.beta_1, c["beta_2"] = o.beta_2, c["epsilon"] = o.epsilon;
  else if (n == "ftrl")
    c["learning_rate_power"] = o.learning_rate_power,
    c["initial_accumulator_value"] = o.initial_accumulator_value,
    c["l1_regularization_strength"] = o.l1_regularization_strength,
    c["l2_regularization_strength"] = o.l2_regularization_strength,
    c["l2_shrinkage_regularization_strength"] = o.l2_shrinkage_regularization_strength,
    c["beta"] = o.beta;
  return {{"class_name", kerasClass(n)}, {"config", c}};
}

json lossConfig(const LossSpec &l) {
  static const std::map<std::string, std::string> classes = {
      {"binary_crossentropy", "BinaryCrossentropy"},
      {"categorical_crossentropy", "CategoricalCrossentropy"},
      {"sparse_categorical_crossentropy", "SparseCategoricalCrossentropy"},
      {"huber", "Huber"}};
  auto it = classes.find(l.name);
  bool plain = !l.fromLogits && l.delta == 1.0;
  if (plain || it == classes.end())
    return l.name;
  json c = {{"name", l.name == "huber" ? "huber_loss" : l.name},
            {"reduction", "sum_over_batch_size"}};
  if (l.name == "huber")
    c["delta"] = l.delta;
  else
    c["from_logits"] = l.fromLogits;
  return {{"module", "keras.losses"}, {"class_name", it->second}, {"config", c},
          {"registered_name", nullptr}};
}

/// Errors in a training_config: "<where>: training_config: <key>: <message>".
struct Where {
  std::string prefix;
  Error operator()(const std::string &key, const std::string &message) const {
    return Error("", prefix + "training_config: " + key + ": " + message);
  }
};

double number(const Where &where, const std::string &key, const json &v) {
  if (!v.is_number())
    throw where(key, "expected a number, got " + v.dump());
  return v.get<double>();
}

bool boolean(const Where &where, const std::string &key, const json &v) {
  if (!v.is_boolean())
    throw where(key, "expected true or false, got " + v.dump());
  return v.get<bool>();
}

/// {class_name, config} (with Keras 3's module / registered_name, and tf.keras 2.11's
/// "Custom>" prefix); returns the class and the config.
std::pair<std::string, json> classAndConfig(const Where &where, const std::string &key,
                                            const json &v) {
  if (!v.is_object() || !v.contains("class_name") || !v["class_name"].is_string())
    throw where(key, "expected {\"class_name\": ..., \"config\": {...}}, got " + v.dump());
  std::string cls = v["class_name"].get<std::string>();
  if (cls.rfind("Custom>", 0) == 0)
    cls = cls.substr(7);
  json config = v.contains("config") ? v["config"] : json::object();
  if (config.is_null())
    config = json::object();
  if (!config.is_object())
    throw where(key + ".config", "expected an object, got " + config.dump());
  return {cls, config};
}

optimizers::schedules::LearningRateSchedule readSchedule(const Where &where, const json &v) {
  const std::string key = "optimizer_config.config.learning_rate";
  auto [cls, c] = classAndConfig(where, key, v);
  auto num = [&](const char *k, double def) {
    return c.contains(k) && !c[k].is_null() ? number(where, key + "." + k, c[k]) : def;
  };
  auto need = [&](const char *k) {
    if (!c.contains(k))
      throw where(key + ".config", cls + " needs '" + k + "'");
    return number(where, key + "." + k, c[k]);
  };
  namespace s = optimizers::schedules;
  try {
    if (cls == "ExponentialDecay")
      return s::ExponentialDecay(need("initial_learning_rate"), int64_t(need("decay_steps")),
                                 need("decay_rate"),
                                 c.contains("staircase") && boolean(where, key + ".staircase",
                                                                    c["staircase"]));
    if (cls == "PiecewiseConstantDecay") {
      std::vector<int64_t> b;
      std::vector<double> vals;
      if (!c.contains("boundaries") || !c["boundaries"].is_array() || !c.contains("values") ||
          !c["values"].is_array())
        throw where(key + ".config", "PiecewiseConstantDecay needs lists 'boundaries' and "
                                     "'values'");
      for (const json &x : c["boundaries"])
        b.push_back(int64_t(number(where, key + ".boundaries", x)));
      for (const json &x : c["values"])
        vals.push_back(number(where, key + ".values", x));
      return s::PiecewiseConstantDecay(b, vals);
    }
    if (cls == "CosineDecay") {
      std::optional<double> target;
      if (c.contains("warmup_target") && !c["warmup_target"].is_null())
        target = number(where, key + ".warmup_target", c["warmup_target"]);
      return s::CosineDecay(need("initial_learning_rate"), int64_t(need("decay_steps")),
                            num("alpha", 0.0), target, int64_t(num("warmup_steps", 0)));
    }
  } catch (const Error &e) {
    if (e.message().find("training_config") != std::string::npos)
      throw;
    throw where(key, e.message());
  }
  throw where(key, "kiln has no learning-rate schedule '" + cls +
                       "' (it has ExponentialDecay, PiecewiseConstantDecay, CosineDecay)");
}

optimizers::Optimizer readOptimizer(const Where &where, const json &v) {
  auto [cls, c] = classAndConfig(where, "optimizer_config", v);
  optimizers::Optimizer o;
  try {
    o = optimizers::Optimizer(lowerAscii(cls));
  } catch (const Error &e) {
    throw where("optimizer_config.class_name", e.message());
  }
  const std::string key = "optimizer_config.config";
  static const std::set<std::string> ignored = {
      "name", "jit_compile", "is_legacy_optimizer", "ema_momentum", "ema_overwrite_frequency"};
  static const std::map<std::string, double optimizers::Optimizer::*> numbers = {
      {"beta_1", &optimizers::Optimizer::beta_1},
      {"beta_2", &optimizers::Optimizer::beta_2},
      {"epsilon", &optimizers::Optimizer::epsilon},
      {"momentum", &optimizers::Optimizer::momentum},
      {"rho", &optimizers::Optimizer::rho},
      {"initial_accumulator_value", &optimizers::Optimizer::initial_accumulator_value},
      {"learning_rate_power", &optimizers::Optimizer::learning_rate_power},
      {"l1_regularization_strength", &optimizers::Optimizer::l1_regularization_strength},
      {"l2_regularization_strength", &optimizers::Optimizer::l2_regularization_strength},
      {"l2_shrinkage_regularization_strength",
       &optimizers::Optimizer::l2_shrinkage_regularization_strength},
      {"beta", &optimizers::Optimizer::beta}};
  static const std::map<std::string, bool optimizers::Optimizer::*> flags = {
      {"nesterov", &optimizers::Optimizer::nesterov},
      {"amsgrad", &optimizers::Optimizer::amsgrad},
      {"centered", &optimizers::Optimizer::centered}};
  static const std::map<std::string, std::optional<double> optimizers::Optimizer::*> clips = {
      {"clipnorm", &optimizers::Optimizer::clipnorm},
      {"clipvalue", &optimizers::Optimizer::clipvalue},
      {"global_clipnorm", &optimizers::Optimizer::global_clipnorm}};
  for (const auto &[k, val] : c.items()) {
    std::string at = key + "." + k;
    if (ignored.count(k))
      continue;
    if (k == "learning_rate" || k == "lr") {
      if (val.is_object()) {
        o.schedule = readSchedule(where, val);
        o.learning_rate = o.schedule->initial_learning_rate;
      } else {
        o.learning_rate = number(where, at, val);
        o.schedule.reset();
      }
      if (!(o.learning_rate > 0))
        throw where(at, "the learning rate must be positive");
    } else if (auto n = numbers.find(k); n != numbers.end()) {
      if (!val.is_null())
        o.*(n->second) = number(where, at, val);
    } else if (auto f = flags.find(k); f != flags.end()) {
      o.*(f->second) = boolean(where, at, val);
    } else if (auto cl = clips.find(k); cl != clips.end()) {
      if (val.is_null())
        o.*(cl->second) = std::nullopt;
      else
        o.*(cl->second) = number(where, at, val);
    } else if (k == "weight_decay") {
      double wd = val.is_null() ? 0.0 : number(where, at, val);
      if (o.name == "adamw")
        o.weight_decay = wd;
      else if (wd != 0.0)
        throw where(at, "kiln applies weight decay in AdamW only, not in " + cls);
    } else if (k == "decay") {
      if (!val.is_null() && number(where, at, val) != 0.0)
        throw where(at, "the legacy inverse-time 'decay' is not supported; use a "
                        "learning-rate schedule");
    } else if (k == "use_ema") {
      if (boolean(where, at, val))
        throw where(at, "kiln does not keep an exponential moving average of the weights");
    } else if (k == "gradient_accumulation_steps" || k == "loss_scale_factor") {
      if (!val.is_null() && !(val.is_number() && val.get<double>() == 1.0))
        throw where(at, "not supported by kiln (must be null)");
    } else {
      throw where(at, "kiln's " + cls + " has no option '" + k + "'");
    }
  }
  if (o.global_clipnorm && (o.clipnorm || o.clipvalue))
    throw where(key, "at most one of clipnorm and global_clipnorm may be set (as in Keras)");
  return o;
}

losses::Loss readLoss(const Where &where, const std::string &key, const json &v) {
  try {
    if (v.is_string())
      return losses::Loss(v.get<std::string>());
    auto [cls, c] = classAndConfig(where, key, v);
    std::string name = cls == "LossFunctionWrapper" && c.contains("fn") && c["fn"].is_string()
                           ? c["fn"].get<std::string>()
                           : snakeCase(cls);
    losses::Loss l(name);
    for (const auto &[k, val] : c.items()) {
      std::string at = key + ".config." + k;
      if (k == "from_logits")
        l.from_logits = boolean(where, at, val);
      else if (k == "delta")
        l.delta = number(where, at, val);
      else if (k == "reduction") {
        std::string r = val.is_string() ? val.get<std::string>() : "";
        if (!val.is_null() && r != "auto" && r != "sum_over_batch_size")
          throw where(at, "kiln reduces losses as Keras' sum_over_batch_size, got " + val.dump());
      } else if (k == "label_smoothing") {
        if (!val.is_null() && number(where, at, val) != 0.0)
          throw where(at, "label smoothing is not supported by kiln");
      } else if (k == "axis") {
        if (!val.is_null() && number(where, at, val) != -1)
          throw where(at, "kiln computes losses over the last axis (-1)");
      } else if (k == "ignore_class") {
        if (!val.is_null())
          throw where(at, "ignore_class is not supported by kiln");
      } else if (k != "name" && k != "fn" && k != "dtype") {
        throw where(at, "kiln's " + cls + " has no option '" + k + "'");
      }
    }
    return l;
  } catch (const Error &e) {
    if (e.message().find("training_config") != std::string::npos)
      throw;
    throw where(key, e.message());
  }
}

/// A metric as kiln's compile() names it: a string, or a serialized metric object.
metrics::Metric readMetric(const Where &where, const json &v) {
  if (v.is_string())
    return v.get<std::string>();
  auto [cls, c] = classAndConfig(where, "metrics", v);
  auto get = [&](const char *k, auto fallback) {
    using T = decltype(fallback);
    if (!c.contains(k) || c[k].is_null())
      return fallback;
    try {
      return c[k].template get<T>();
    } catch (const json::exception &) {
      throw where(std::string("metrics.") + k, "unexpected value " + c[k].dump());
    }
  };
  try {
    if (cls == "AUC")
      return metrics::AUC({.num_thresholds = get("num_thresholds", int64_t(200)),
                           .curve = get("curve", std::string("ROC")),
                           .summation_method = get("summation_method", std::string("interpolation")),
                           .name = get("name", std::string("auc")),
                           .multi_label = get("multi_label", false),
                           .from_logits = get("from_logits", false)});
    if (cls == "MeanIoU") {
      std::optional<int64_t> ignore;
      if (c.contains("ignore_class") && !c["ignore_class"].is_null())
        ignore = get("ignore_class", int64_t(0));
      return metrics::MeanIoU(get("num_classes", int64_t(0)),
                              {.name = get("name", std::string("mean_io_u")),
                               .ignore_class = ignore,
                               .sparse_y_true = get("sparse_y_true", true),
                               .sparse_y_pred = get("sparse_y_pred", true)});
    }
  } catch (const Error &e) {
    throw where("metrics", e.message());
  }
  static const std::set<std::string> known = {
      "accuracy", "acc", "binary_accuracy", "categorical_accuracy",
      "sparse_categorical_accuracy", "top_k_categorical_accuracy",
      "sparse_top_k_categorical_accuracy", "mse", "mae", "mean_squared_error",
      "mean_absolute_error", "cosine_similarity", "precision", "recall"};
  for (const char *k : {"name", "fn"})
    if (c.contains(k) && c[k].is_string() && known.count(c[k].get<std::string>()))
      return c[k].get<std::string>();
  return snakeCase(cls);
}

std::vector<metrics::Metric> metricList(const Where &where, const json &v) {
  std::vector<metrics::Metric> out;
  if (v.is_null())
    return out;
  if (!v.is_array())
    throw where("metrics", "expected a list, got " + v.dump());
  for (const json &m : v)
    out.push_back(readMetric(where, m));
  return out;
}

/// A compiled metric as Keras writes it: its name, or {class_name, config} for an object.
json metricConfig(const MetricSpec &ms) {
  if (!ms.object)
    return ms.name;
  const metrics::Metric &o = *ms.object;
  if (o.kind == "auc")
    return {{"class_name", "AUC"},
            {"config",
             {{"name", o.name},
              {"dtype", "float32"},
              {"num_thresholds", o.num_thresholds},
              {"curve", o.curve},
              {"summation_method", o.summation_method},
              {"multi_label", o.multi_label},
              {"num_labels", nullptr},
              {"label_weights", nullptr},
              {"from_logits", o.from_logits}}}};
  return {{"class_name", "MeanIoU"},
          {"config",
           {{"name", o.name},
            {"dtype", "float32"},
            {"num_classes", o.num_classes},
            {"ignore_class", o.ignore_class ? json(*o.ignore_class) : json(nullptr)},
            {"sparse_y_true", o.sparse_y_true},
            {"sparse_y_pred", o.sparse_y_pred},
            {"axis", -1}}}};
}

/// Keras' metrics: a list, a list per output, or a dict by output name. kiln computes the
/// same metrics for every output.
std::vector<metrics::Metric> readMetrics(const Where &where, const ModelImpl &m, const json &v) {
  std::vector<std::vector<metrics::Metric>> perOutput;
  if (v.is_object()) {
    for (const auto &out : m.outputs)
      perOutput.push_back(metricList(where, v.contains(out->layer->name)
                                                ? v[out->layer->name]
                                                : json(nullptr)));
    for (const auto &[k, val] : v.items())
      if (std::none_of(m.outputs.begin(), m.outputs.end(),
                       [&](const auto &o) { return o->layer->name == k; }))
        throw where("metrics." + k, "the model has no output layer '" + k + "'");
  } else if (v.is_array() && !v.empty() &&
             std::all_of(v.begin(), v.end(), [](const json &x) { return x.is_array(); })) {
    for (const json &x : v)
      perOutput.push_back(metricList(where, x));
  } else {
    return metricList(where, v);
  }
  auto names = [](const std::vector<metrics::Metric> &list) {
    std::vector<std::string> out;
    for (const metrics::Metric &x : list)
      out.push_back(x.name + "/" + x.kind);
    return out;
  };
  for (const auto &p : perOutput)
    if (names(p) != names(perOutput[0]))
      throw where("metrics", "kiln computes the same metrics for every output; this config "
                             "gives different ones per output");
  return perOutput.empty() ? std::vector<metrics::Metric>{} : perOutput[0];
}

/// The loss per output: one loss, a list per output, or a dict by output name.
std::vector<losses::Loss> readLosses(const Where &where, const ModelImpl &m, const json &v) {
  size_t n = m.outputs.size();
  std::vector<losses::Loss> out;
  if (v.is_array()) {
    if (v.size() != n)
      throw where("loss", "a list of " + std::to_string(v.size()) + " losses for a model with " +
                              std::to_string(n) + " outputs");
    for (size_t i = 0; i < n; ++i)
      out.push_back(readLoss(where, "loss[" + std::to_string(i) + "]", v[i]));
  } else if (v.is_object() && !v.contains("class_name")) {
    for (const auto &o : m.outputs) {
      const std::string &name = o->layer->name;
      if (!v.contains(name))
        throw where("loss", "no loss for the output layer '" + name + "'");
      out.push_back(readLoss(where, "loss." + name, v[name]));
    }
    if (v.size() != n)
      throw where("loss", "names a layer that is not an output of the model");
  } else {
    losses::Loss l = readLoss(where, "loss", v);
    out.assign(n, l);
  }
  return out;
}

void checkLossWeights(const Where &where, const json &v) {
  auto one = [&](const json &x) {
    if (!(x.is_number() && x.get<double>() == 1.0))
      throw where("loss_weights", "kiln weights every output's loss by 1; got " + v.dump());
  };
  if (v.is_null())
    return;
  if (v.is_number())
    return one(v);
  if (!v.is_array() && !v.is_object())
    throw where("loss_weights", "expected a list, a dict or null, got " + v.dump());
  for (const auto &x : v)
    one(x);
}




} // namespace

json trainingConfig(const ModelImpl &m) {
  if (!m.training)
    throw Error(m.name, "the model is not compiled, so it has no training_config");
  const Training &t = *m.training;
  bool sameLoss = std::all_of(t.losses.begin(), t.losses.end(), [&](const LossSpec &l) {
    return l.name == t.losses[0].name && l.fromLogits == t.losses[0].fromLogits &&
           l.delta == t.losses[0].delta;
  });
  json loss;
  if (sameLoss && !t.losses.empty())
    loss = lossConfig(t.losses[0]);
  else {
    loss = json::array();
    for (const LossSpec &l : t.losses)
      loss.push_back(lossConfig(l));
  }
  json metrics = json::array();
  for (const MetricSpec &ms : t.metrics)
    metrics.push_back(metricConfig(ms));
  if (m.outputs.size() > 1) {
    json perOutput = json::array();
    for (size_t o = 0; o < m.outputs.size(); ++o)
      perOutput.push_back(metrics);
    metrics = perOutput;
  }
  return {{"loss", loss},
          {"loss_weights", nullptr},
          {"metrics", metrics},
          {"weighted_metrics", nullptr},
          {"run_eagerly", false},
          {"steps_per_execution", 1},
          {"jit_compile", false},
          {"optimizer_config", optimizerConfig(t.optimizer)}};
}

void compileFromTrainingConfig(Model &model, const json &config, const std::string &where,
                               bool keepState) {
  Where w{where.empty() ? "" : where + ": "};
  ModelImpl &m = *model.impl;
  if (!config.is_object())
    throw w("(top level)", "expected a JSON object, got " + config.dump());
  if (!config.contains("optimizer_config") || config["optimizer_config"].is_null())
    throw w("optimizer_config", "missing (the optimizer's {class_name, config})");
  if (!config.contains("loss") || config["loss"].is_null())
    throw w("loss", "missing");
  optimizers::Optimizer optimizer = readOptimizer(w, config["optimizer_config"]);
  std::vector<losses::Loss> perOutput = readLosses(w, m, config["loss"]);
  checkLossWeights(w, config.value("loss_weights", json(nullptr)));
  std::vector<metrics::Metric> metrics =
      readMetrics(w, m, config.value("metrics", json(nullptr)));
  json weighted = config.value("weighted_metrics", json(nullptr));
  if (!weighted.is_null() && !(weighted.is_array() && weighted.empty()) &&
      !(weighted.is_array() &&
        std::all_of(weighted.begin(), weighted.end(),
                    [](const json &x) { return x.is_array() && x.empty(); })))
    throw w("weighted_metrics", "not supported by kiln");

  std::shared_ptr<Training> old = m.training;
  try {
    model.compile({.optimizer = optimizer, .loss = perOutput[0], .metrics = metrics});
  } catch (const Error &e) {
    throw w("metrics", e.message());
  }
  Training &t = *m.training;
  t.losses.clear();
  for (const losses::Loss &l : perOutput)
    t.losses.push_back({l.name, l.from_logits, l.delta});
  if (keepState && old && old->optimizer.name == t.optimizer.name &&
      old->slots.size() == t.slots.size() &&
      slotCount(old->optimizer) == slotCount(t.optimizer)) {
    t.slots = old->slots;
    t.iterations = old->iterations;
    t.nadamProduct = old->nadamProduct;
  }
}

/// The weights the optimizer updates (and keeps slots for), in get_weights() order.
std::vector<Weight *> trainableWeights(const ModelImpl &m) {
  std::vector<Weight *> out;
  for (Weight *w : m.allWeights())
    if (w->trainable)
      out.push_back(w);
  return out;
}


std::string readOptimizerWeights(ModelImpl &m, const h5::Reader &r) {
  Training &t = *m.training;
  auto names = r.stringListAttr("optimizer_weights", "weight_names");
  if (!names)
    return "the group 'optimizer_weights' has no attribute 'weight_names'";
  std::string cls = lowerAscii(kerasClass(t.optimizer.name));
  // The names without the optimizer's scope (tf.keras writes "Adam/...", some "adam/...").
  std::map<std::string, std::string> byName;
  for (const std::string &n : *names) {
    size_t slash = n.find('/');
    std::string key = slash != std::string::npos && lowerAscii(n.substr(0, slash)) == cls
                          ? n.substr(slash + 1)
                          : n;
    byName[key] = "optimizer_weights/" + n;
  }
  auto find = [&](std::initializer_list<std::string> keys) -> std::optional<std::string> {
    for (const std::string &k : keys)
      if (auto it = byName.find(k); it != byName.end())
        return it->second;
    return std::nullopt;
  };
  std::optional<std::string> iter = find({"iter:0", "iteration:0", "iteration"});
  if (!iter)
    return "no iteration count among the optimizer weights";
  std::vector<std::string> slots = slotNames(t.optimizer);
  std::vector<Weight *> weights = trainableWeights(m); // the ones with optimizer slots
  std::vector<std::vector<Array>> staged(weights.size());
  size_t used = 1;
  for (size_t i = 0; i < weights.size(); ++i)
    for (size_t k = 0; k < slots.size(); ++k) {
      std::string var = variableName(*weights[i]);
      // tf.keras 2.x OptimizerV2 names slots <var>/<slot>; the 2.11+ optimizer <slot>/<var>.
      auto path = find({var + "/" + slots[k] + ":0", slots[k] + "/" + var + ":0"});
      if (!path)
        return "no '" + slots[k] + "' slot for weight '" + weights[i]->name + "'";
      Array a = r.dataset(*path);
      if (a.shape != weights[i]->value.shape)
        return "'" + *path + "' has shape " + Array::shapeString(a.shape) + ", the weight " +
               Array::shapeString(weights[i]->value.shape);
      staged[i].push_back(std::move(a));
      ++used;
    }
  double product = t.nadamProduct;
  if (t.optimizer.name == "nadam") {
    auto cache = find({"momentum_cache:0"});
    if (!cache)
      return "no Nadam momentum_cache";
    product = r.scalar(*cache);
    ++used;
  }
  if (used != names->size())
    return "the file has " + std::to_string(names->size()) +
           " optimizer weights, the compiled optimizer " + std::to_string(used);
  double it = r.scalar(*iter);
  if (!(it >= 0) || it != std::floor(it))
    return "the iteration count " + std::to_string(it) + " is not a count";
  t.slots = std::move(staged);
  t.iterations = int64_t(it);
  t.nadamProduct = product;
  return "";
}

json compileConfig(const ModelImpl &m) {
  json t = trainingConfig(m);
  json opt = t["optimizer_config"];
  json c = {{"optimizer",
             {{"module", "keras.optimizers"},
              {"class_name", opt["class_name"]},
              {"config", opt["config"]},
              {"registered_name", nullptr}}}};
  for (const char *k : {"loss", "loss_weights", "metrics", "weighted_metrics", "run_eagerly",
                        "steps_per_execution", "jit_compile"})
    c[k] = t[k];
  return c;
}

json trainingConfigFromCompileConfig(const json &c) {
  if (!c.is_object())
    return c; // compileFromTrainingConfig names the problem
  json t = c;
  if (t.contains("optimizer")) {
    t["optimizer_config"] = t["optimizer"];
    t.erase("optimizer");
  }
  return t;
}

namespace {

/// The groups of slots that Keras 3's build() creates one after the other; within a group the
/// slots are interleaved per weight (kiln's slot indices, as slotNames orders them).
std::vector<std::vector<size_t>> keras3SlotGroups(const optimizers::Optimizer &o) {
  const std::string &n = o.name;
  if (n == "adam" || n == "adamw") {
    std::vector<std::vector<size_t>> g = {{0, 1}};
    if (o.amsgrad)
      g.push_back({2});
    return g;
  }
  if (n == "rmsprop") {
    // kiln: rms, [mg if centered], [momentum]; Keras: velocity, momentum, average_gradient.
    std::vector<std::vector<size_t>> g = {{0}};
    if (o.momentum > 0.0)
      g.push_back({o.centered ? size_t(2) : size_t(1)});
    if (o.centered)
      g.push_back({1});
    return g;
  }
  int count = slotCount(o);
  if (count == 0)
    return {};
  std::vector<size_t> one;
  for (int k = 0; k < count; ++k)
    one.push_back(size_t(k));
  return {one};
}

} // namespace

void writeKeras3OptimizerVars(const ModelImpl &m, h5::Writer &w) {
  const Training &t = *m.training;
  std::vector<Weight *> weights = trainableWeights(m);
  size_t i = 0;
  auto next = [&] { return "optimizer/vars/" + std::to_string(i++); };
  w.group("optimizer/vars");
  w.scalar(next(), t.iterations);
  if (!t.optimizer.schedule)
    w.scalarF32(next(), float(t.optimizer.learning_rate));
  for (const auto &group : keras3SlotGroups(t.optimizer))
    for (size_t k = 0; k < weights.size(); ++k)
      for (size_t slot : group)
        w.dataset(next(), t.slots[k][slot]);
  if (t.optimizer.name == "nadam")
    w.scalar(next(), t.nadamProduct);
}

std::string readKeras3OptimizerVars(ModelImpl &m, const h5::Reader &r) {
  Training &t = *m.training;
  if (!r.exists("optimizer/vars"))
    return "the archive has no group 'optimizer/vars'";
  std::vector<Weight *> weights = trainableWeights(m);
  size_t expected = 1 + (t.optimizer.schedule ? 0 : 1) + weights.size() * slotCount(t.optimizer) +
                    (t.optimizer.name == "nadam" ? 1 : 0);
  size_t have = r.members("optimizer/vars").size();
  if (have != expected)
    return "the archive has " + std::to_string(have) + " optimizer variables, the compiled " +
           t.optimizer.name + " " + std::to_string(expected);
  size_t i = 0;
  auto next = [&] { return "optimizer/vars/" + std::to_string(i++); };
  double it = r.scalar(next());
  if (!(it >= 0) || it != std::floor(it))
    return "the iteration count " + std::to_string(it) + " is not a count";
  std::optional<double> lr;
  if (!t.optimizer.schedule) {
    double v = r.scalar(next());
    // The variable is float32: it changes kiln's learning rate only when it says something
    // else than the config's (a callback such as ReduceLROnPlateau lowered it).
    if (float(v) != float(t.optimizer.learning_rate))
      lr = v;
  }
  std::vector<std::vector<Array>> staged(weights.size(),
                                         std::vector<Array>(size_t(slotCount(t.optimizer))));
  for (const auto &group : keras3SlotGroups(t.optimizer))
    for (size_t k = 0; k < weights.size(); ++k)
      for (size_t slot : group) {
        std::string path = next();
        Array a = r.dataset(path);
        if (a.shape != weights[k]->value.shape)
          return "'" + path + "' has shape " + Array::shapeString(a.shape) + ", the weight '" +
                 weights[k]->name + "' " + Array::shapeString(weights[k]->value.shape);
        staged[k][slot] = std::move(a);
      }
  double product = t.nadamProduct;
  if (t.optimizer.name == "nadam")
    product = r.scalar(next());
  t.slots = std::move(staged);
  t.iterations = int64_t(it);
  t.nadamProduct = product;
  if (lr)
    t.optimizer.learning_rate = *lr;
  return "";
}

} // namespace kiln::detail

namespace kiln {

nlohmann::json training_config(const Model &model) {
  return detail::trainingConfig(*model.impl);
}

void compile_from_training_config(Model &model, const nlohmann::json &config,
                                  bool keep_optimizer_state) {
  detail::compileFromTrainingConfig(model, config, "", keep_optimizer_state);
}

} // namespace kiln
