//===- TrainerSpec.cpp - what a standalone trainer knows of its model -----===//
#include "kiln/TrainerSpec.h"

#include "kiln/Error.h"

namespace kiln::detail {

using json = nlohmann::json;

namespace {
json optional(const std::optional<double> &v) { return v ? json(*v) : json(nullptr); }
std::optional<double> optional(const json &j) {
  return j.is_null() ? std::nullopt : std::optional<double>(j.get<double>());
}
} // namespace

json trainingSpec(const Training &t) {
  const optimizers::Optimizer &o = t.optimizer;
  json opt = {{"name", o.name},
              {"learning_rate", o.learning_rate},
              {"beta_1", o.beta_1},
              {"beta_2", o.beta_2},
              {"epsilon", o.epsilon},
              {"momentum", o.momentum},
              {"rho", o.rho},
              {"weight_decay", o.weight_decay},
              {"initial_accumulator_value", o.initial_accumulator_value},
              {"learning_rate_power", o.learning_rate_power},
              {"l1_regularization_strength", o.l1_regularization_strength},
              {"l2_regularization_strength", o.l2_regularization_strength},
              {"l2_shrinkage_regularization_strength", o.l2_shrinkage_regularization_strength},
              {"beta", o.beta},
              {"nesterov", o.nesterov},
              {"amsgrad", o.amsgrad},
              {"centered", o.centered},
              {"clipnorm", optional(o.clipnorm)},
              {"clipvalue", optional(o.clipvalue)},
              {"global_clipnorm", optional(o.global_clipnorm)},
              {"schedule", nullptr}};
  if (o.schedule) {
    const auto &s = *o.schedule;
    opt["schedule"] = {{"name", s.name},
                       {"initial_learning_rate", s.initial_learning_rate},
                       {"decay_steps", s.decay_steps},
                       {"decay_rate", s.decay_rate},
                       {"alpha", s.alpha},
                       {"staircase", s.staircase},
                       {"boundaries", s.boundaries},
                       {"values", s.values},
                       {"warmup_target", optional(s.warmup_target)},
                       {"warmup_steps", s.warmup_steps}};
  }
  json losses = json::array();
  for (const LossSpec &l : t.losses)
    losses.push_back({{"name", l.name}, {"from_logits", l.fromLogits}, {"delta", l.delta}});
  json metrics = json::array();
  for (const MetricSpec &m : t.metrics) {
    json obj = nullptr;
    if (m.object) {
      const metrics::Metric &o = *m.object;
      obj = {{"name", o.name},
             {"kind", o.kind},
             {"num_thresholds", o.num_thresholds},
             {"curve", o.curve},
             {"summation_method", o.summation_method},
             {"multi_label", o.multi_label},
             {"from_logits", o.from_logits},
             {"num_classes", o.num_classes},
             {"ignore_class", o.ignore_class ? json(*o.ignore_class) : json(nullptr)},
             {"sparse_y_true", o.sparse_y_true},
             {"sparse_y_pred", o.sparse_y_pred}};
    }
    metrics.push_back({{"name", m.name}, {"kind", m.kind}, {"object", obj}});
  }
  return {{"optimizer", opt},         {"losses", losses},
          {"metrics", metrics},       {"iterations", t.iterations},
          {"nadam_product", t.nadamProduct}, {"target_shapes", t.targetShapes}};
}

void readTrainingSpec(const json &j, Training &t) {
  try {
    const json &o = j.at("optimizer");
    optimizers::Optimizer &opt = t.optimizer;
    opt.name = o.at("name").get<std::string>();
    opt.learning_rate = o.at("learning_rate");
    opt.beta_1 = o.at("beta_1"), opt.beta_2 = o.at("beta_2"), opt.epsilon = o.at("epsilon");
    opt.momentum = o.at("momentum"), opt.rho = o.at("rho");
    opt.weight_decay = o.at("weight_decay");
    opt.initial_accumulator_value = o.at("initial_accumulator_value");
    opt.learning_rate_power = o.at("learning_rate_power");
    opt.l1_regularization_strength = o.at("l1_regularization_strength");
    opt.l2_regularization_strength = o.at("l2_regularization_strength");
    opt.l2_shrinkage_regularization_strength = o.at("l2_shrinkage_regularization_strength");
    opt.beta = o.at("beta");
    opt.nesterov = o.at("nesterov"), opt.amsgrad = o.at("amsgrad");
    opt.centered = o.at("centered");
    opt.clipnorm = optional(o.at("clipnorm"));
    opt.clipvalue = optional(o.at("clipvalue"));
    opt.global_clipnorm = optional(o.at("global_clipnorm"));
    opt.schedule.reset();
    if (const json &s = o.at("schedule"); !s.is_null()) {
      optimizers::schedules::LearningRateSchedule r;
      r.name = s.at("name");
      r.initial_learning_rate = s.at("initial_learning_rate");
      r.decay_steps = s.at("decay_steps"), r.decay_rate = s.at("decay_rate");
      r.alpha = s.at("alpha"), r.staircase = s.at("staircase");
      r.boundaries = s.at("boundaries").get<std::vector<int64_t>>();
      r.values = s.at("values").get<std::vector<double>>();
      r.warmup_target = optional(s.at("warmup_target"));
      r.warmup_steps = s.at("warmup_steps");
      opt.schedule = r;
    }
    t.losses.clear();
    for (const json &l : j.at("losses"))
      t.losses.push_back({l.at("name"), l.at("from_logits"), l.at("delta")});
    t.metrics.clear();
    for (const json &m : j.at("metrics")) {
      MetricSpec ms{m.at("name"), m.at("kind"), std::nullopt};
      if (const json &o = m.at("object"); !o.is_null()) {
        metrics::Metric x(o.at("name").get<std::string>());
        x.kind = o.at("kind");
        x.num_thresholds = o.at("num_thresholds");
        x.curve = o.at("curve"), x.summation_method = o.at("summation_method");
        x.multi_label = o.at("multi_label"), x.from_logits = o.at("from_logits");
        x.num_classes = o.at("num_classes");
        if (!o.at("ignore_class").is_null())
          x.ignore_class = o.at("ignore_class").get<int64_t>();
        x.sparse_y_true = o.at("sparse_y_true"), x.sparse_y_pred = o.at("sparse_y_pred");
        ms.object = x;
      }
      t.metrics.push_back(std::move(ms));
    }
    t.iterations = j.at("iterations");
    t.nadamProduct = j.at("nadam_product");
    t.targetShapes = j.at("target_shapes").get<std::vector<Shape>>();
  } catch (const json::exception &e) {
    throw Error("", std::string("the trainer's embedded description is malformed: ") +
                        e.what());
  }
}

} // namespace kiln::detail
