//===- KerasConfig.cpp - Keras model configs (JSON) in and out, tf.keras 2.x and Keras 3 -===//
//
// Reading accepts both spellings Keras has used: tf.keras 2.x (`batch_input_shape`, inbound
// nodes as [[["dense", 0, 0, {}]]], dtype "float32", initializers {"class_name", "config"}) and
// Keras 3 (`batch_shape`, inbound nodes as {"args": [keras tensors], "kwargs": {}}, dtype
// policies, "module" / "registered_name"). Writing produces one of the two, Keras 3 by default.
//
//===----------------------------------------------------------------------===//
#include "KerasConfig.h"
#include "Impl.h"

#include "kiln/Saving.h"

#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <set>

namespace kiln {
namespace detail {

using json = nlohmann::json;
using namespace kiln::layers;

namespace {

constexpr size_t kMaxJsonBytes = size_t(64) << 20;
constexpr int kMaxJsonDepth = 256;
constexpr int64_t kMaxDim = int64_t(1) << 31;
constexpr int64_t kMaxSampleElements = int64_t(1) << 40;

std::string kindOf(const json &j) { return j.type_name(); }

} // namespace

//===----------------------------------------------------------------------===//
// Parsing with caps.
//===----------------------------------------------------------------------===//

json parseJsonCapped(const std::string &text, const std::string &what) {
  if (text.size() > kMaxJsonBytes)
    throw Error("", what + ": the JSON is " + std::to_string(text.size()) +
                        " bytes, over kiln's cap of " + std::to_string(kMaxJsonBytes));
  bool tooDeep = false;
  json::parser_callback_t cb = [&](int depth, json::parse_event_t, json &) {
    if (depth > kMaxJsonDepth) {
      tooDeep = true;
      throw std::runtime_error("too deep");
    }
    return true;
  };
  try {
    return json::parse(text, cb);
  } catch (const json::exception &e) {
    throw Error("", what + ": malformed JSON: " + e.what());
  } catch (const std::runtime_error &) {
    if (tooDeep)
      throw Error("", what + ": the JSON nests deeper than kiln's cap of " +
                          std::to_string(kMaxJsonDepth) + " levels");
    throw;
  }
}

//===----------------------------------------------------------------------===//
// Writing.
//===----------------------------------------------------------------------===//

json initializerConfig(const Initializer &init) {
  static const std::map<std::string, std::string> classes = {
      {"glorot_uniform", "GlorotUniform"}, {"glorot_normal", "GlorotNormal"},
      {"he_uniform", "HeUniform"},         {"he_normal", "HeNormal"},
      {"lecun_uniform", "LecunUniform"},   {"lecun_normal", "LecunNormal"},
      {"random_normal", "RandomNormal"},   {"random_uniform", "RandomUniform"},
      {"zeros", "Zeros"},                  {"ones", "Ones"},
      {"constant", "Constant"},            {"orthogonal", "Orthogonal"}};
  auto it = classes.find(init.name);
  assert(it != classes.end() && "Initializer names are validated on construction");
  json seed = init.seed ? json(*init.seed) : json(nullptr);
  json config = json::object();
  if (init.name == "random_normal")
    config = {{"mean", init.a}, {"stddev", init.b}, {"seed", seed}};
  else if (init.name == "random_uniform")
    config = {{"minval", init.a}, {"maxval", init.b}, {"seed", seed}};
  else if (init.name == "constant")
    config = {{"value", init.a}};
  else if (init.name == "orthogonal")
    config = {{"gain", init.a}, {"seed", seed}};
  else if (init.name != "zeros" && init.name != "ones")
    config = {{"seed", seed}};
  return {{"class_name", it->second}, {"config", config}};
}

//===----------------------------------------------------------------------===//
// Regularizers and constraints.
//===----------------------------------------------------------------------===//

json regularizerConfig(const std::optional<Regularizer> &r) {
  if (!r)
    return nullptr;
  json config = json::object();
  if (r->kind != "L2")
    config["l1"] = r->l1;
  if (r->kind != "L1")
    config["l2"] = r->l2;
  return {{"class_name", r->kind}, {"config", config}};
}

namespace {
json axisJson(const std::vector<int64_t> &axis) {
  return axis.size() == 1 ? json(axis[0]) : json(axis);
}
} // namespace

json constraintConfig(const std::optional<Constraint> &c) {
  if (!c)
    return nullptr;
  if (c->name == "non_neg")
    return {{"class_name", "NonNeg"}, {"config", json::object()}};
  if (c->name == "unit_norm")
    return {{"class_name", "UnitNorm"}, {"config", {{"axis", axisJson(c->axis)}}}};
  if (c->name == "min_max_norm")
    return {{"class_name", "MinMaxNorm"},
            {"config",
             {{"min_value", c->min_value},
              {"max_value", c->max_value},
              {"rate", c->rate},
              {"axis", axisJson(c->axis)}}}};
  return {{"class_name", "MaxNorm"},
          {"config", {{"max_value", c->max_value}, {"axis", axisJson(c->axis)}}}};
}

void checkConstraint(const std::string &layer, const std::optional<Constraint> &c) {
  if (!c)
    return;
  if (c->name != "max_norm" && c->name != "non_neg" && c->name != "unit_norm" &&
      c->name != "min_max_norm")
    throw Error(layer, "unknown constraint '" + c->name +
                           "' (kiln has max_norm, non_neg, unit_norm, min_max_norm)");
  if (c->name != "non_neg" && c->axis.empty())
    throw Error(layer, "constraint '" + c->name + "' needs at least one axis");
}

namespace {

json shapeJson(const Shape &shape) {
  json out = json::array();
  for (int64_t d : shape)
    out.push_back(d < 0 ? json(nullptr) : json(d));
  return out;
}

/// Keras 3 writes nested objects as {"module", "class_name", "config", "registered_name"}.
json keras3Object(const std::string &module, json obj) {
  json out = {{"module", module}, {"class_name", obj["class_name"]}, {"config", obj["config"]},
              {"registered_name", nullptr}};
  return out;
}

json layerConfig(const LayerImpl &l, bool keras2) {
  json c = json::object();
  if (l.className == "InputLayer") {
    c[keras2 ? "batch_input_shape" : "batch_shape"] = shapeJson(l.builtInputShape);
    c["dtype"] = "float32";
    c["sparse"] = false;
    if (keras2)
      c["ragged"] = false;
    c["name"] = l.name;
    return c;
  }
  c["name"] = l.name;
  c["trainable"] = l.trainable;
  if (keras2)
    c["dtype"] = "float32";
  else
    c["dtype"] = {{"module", "keras"},
                  {"class_name", "DTypePolicy"},
                  {"config", {{"name", "float32"}}},
                  {"registered_name", nullptr}};
  l.getConfig(c);
  for (const auto &[key, inner] : l.wrappedLayers()) {
    json entry = {{"class_name", inner->className}, {"config", layerConfig(*inner, keras2)}};
    if (!keras2)
      entry = {{"module", "keras.layers"},
               {"class_name", inner->className},
               {"config", entry["config"]},
               {"registered_name", nullptr}};
    c[key] = entry;
  }
  if (l.className == "Conv2D" && !c.contains("groups"))
    c["groups"] = 1;
  if (!keras2)
    for (auto it = c.begin(); it != c.end(); ++it) {
      if (!it->is_object() || it->contains("module"))
        continue;
      if (it.key().ends_with("_initializer"))
        *it = keras3Object("keras.initializers", *it);
      else if (it.key().ends_with("_regularizer"))
        *it = keras3Object("keras.regularizers", *it);
      else if (it.key().ends_with("_constraint"))
        *it = keras3Object("keras.constraints", *it);
    }
  return c;
}

/// The calls of each layer that belong to the model, in call order: Keras numbers a layer's
/// inbound nodes within the model, not across every call the layer ever had.
std::map<const TensorImpl *, int> modelNodeIndices(const ModelImpl &m) {
  std::set<const TensorImpl *> inModel;
  for (const Node &n : m.nodes)
    inModel.insert(n.output->call());
  std::map<const TensorImpl *, int> index;
  for (const auto &l : m.layers) {
    int k = 0;
    for (const auto &w : l->calls)
      if (auto t = w.lock(); t && inModel.count(t.get()))
        index[t.get()] = k++;
  }
  for (const auto &in : m.inputs)
    index.emplace(in.get(), 0);
  return index;
}

json historyJson(const TensorImpl &t, const std::map<const TensorImpl *, int> &index) {
  auto it = index.find(t.call());
  return json::array(
      {t.layer->name, it == index.end() ? t.nodeIndex : it->second, t.tensorIndex});
}

} // namespace

json modelConfig(const ModelImpl &m, bool keras2) {
  if (!m.isBuilt())
    throw Error(m.name, "this model has not yet been built, so it has no Keras config: start "
                        "the Sequential with kiln::Input(shape), or call predict first");
  json out;
  if (m.sequential) {
    json layers = json::array();
    // Keras 3 serializes each layer with its module and registered_name.
    auto entry = [&](const LayerImpl &l) {
      if (keras2)
        return json{{"class_name", l.className}, {"config", layerConfig(l, keras2)}};
      return json{{"module", "keras.layers"},
                  {"class_name", l.className},
                  {"config", layerConfig(l, keras2)},
                  {"registered_name", nullptr}};
    };
    layers.push_back(entry(*m.inputs[0]->layer));
    for (const auto &l : m.layers)
      layers.push_back(entry(*l));
    out = {{"class_name", "Sequential"},
           {"config", {{"name", m.name}, {"layers", layers}}}};
  } else {
    auto index = modelNodeIndices(m);
    std::set<const TensorImpl *> inModel;
    for (const Node &n : m.nodes)
      inModel.insert(n.output->call());
    json layers = json::array();
    for (const auto &l : m.layers) {
      json inbound = json::array();
      for (const auto &w : l->calls) {
        auto t = w.lock();
        if (!t || !inModel.count(t.get()) || t->inputs.empty())
          continue;
        if (keras2) {
          json node = json::array();
          for (const auto &in : t->inputs) {
            json h = historyJson(*in, index);
            h.push_back(json::object());
            node.push_back(h);
          }
          inbound.push_back(node);
        } else {
          json tensors = json::array();
          for (const auto &in : t->inputs)
            tensors.push_back({{"class_name", "__keras_tensor__"},
                               {"config",
                                {{"shape", shapeJson(in->shape)},
                                 {"dtype", "float32"},
                                 {"keras_history", historyJson(*in, index)}}}});
          json args = l->arity() == 0 ? json::array({tensors}) : tensors;
          inbound.push_back({{"args", args}, {"kwargs", json::object()}});
        }
      }
      json entry;
      if (!keras2)
        entry["module"] = "keras.layers";
      entry["class_name"] = l->className;
      entry["config"] = layerConfig(*l, keras2);
      if (!keras2)
        entry["registered_name"] = nullptr;
      entry["name"] = l->name;
      entry["inbound_nodes"] = inbound;
      layers.push_back(entry);
    }
    json ins = json::array(), outs = json::array();
    for (const auto &t : m.inputs)
      ins.push_back(historyJson(*t, index));
    for (const auto &t : m.outputs)
      outs.push_back(historyJson(*t, index));
    json config = {{"name", m.name}, {"trainable", true}, {"layers", layers},
                   {"input_layers", ins}, {"output_layers", outs}};
    out = {{"class_name", "Functional"}, {"config", config}};
  }
  if (!keras2) {
    out = {{"module", m.sequential ? "keras" : "keras.src.models.functional"},
           {"class_name", out["class_name"]},
           {"config", out["config"]},
           {"registered_name", m.sequential ? json(nullptr) : json("Functional")}};
  }
  return out;
}

//===----------------------------------------------------------------------===//
// Reading.
//===----------------------------------------------------------------------===//

namespace {

/// Reads one layer's config, naming the layer and the key in every error.
struct ConfigReader {
  std::string layer, cls;
  const json &c;

  Error error(const std::string &message) const { return Error(layer, message); }

  bool has(const char *key) const { return c.contains(key) && !c[key].is_null(); }

  int64_t integer(const json &v, const std::string &key) const {
    if (v.is_number_integer())
      return v.get<int64_t>();
    if (v.is_number_float()) {
      double d = v.get<double>();
      if (std::floor(d) == d && std::fabs(d) < 9e15)
        return static_cast<int64_t>(d);
    }
    throw error(cls + " config key '" + key + "' must be an integer, got " + v.dump());
  }
  int64_t getInt(const char *key, std::optional<int64_t> def = {}) const {
    if (!has(key)) {
      if (def)
        return *def;
      throw error(cls + " config is missing '" + key + "'");
    }
    return integer(c[key], key);
  }
  double getDouble(const char *key, double def) const {
    if (!has(key))
      return def;
    if (!c[key].is_number())
      throw error(cls + " config key '" + key + "' must be a number, got " + c[key].dump());
    return c[key].get<double>();
  }
  bool getBool(const char *key, bool def) const {
    if (!has(key))
      return def;
    if (!c[key].is_boolean())
      throw error(cls + " config key '" + key + "' must be true or false, got " + c[key].dump());
    return c[key].get<bool>();
  }
  std::string getString(const char *key, const std::string &def) const {
    if (!has(key))
      return def;
    if (!c[key].is_string())
      throw error(cls + " config key '" + key + "' must be a string, got " + c[key].dump());
    return c[key].get<std::string>();
  }
  /// An int or a list of `n` ints (Keras accepts both for kernel_size, strides, ...).
  std::vector<int64_t> getInts(const char *key, size_t n, std::vector<int64_t> def) const {
    if (!has(key))
      return def;
    const json &v = c[key];
    if (v.is_number())
      return std::vector<int64_t>(n, integer(v, key));
    if (!v.is_array() || (n && v.size() != n))
      throw error(cls + " config key '" + key + "' must be an integer or a list of " +
                  std::to_string(n) + " integers, got " + v.dump());
    std::vector<int64_t> out;
    for (const json &e : v)
      out.push_back(integer(e, key));
    return out;
  }
  std::array<int64_t, 2> getPair(const char *key, std::array<int64_t, 2> def) const {
    auto v = getInts(key, 2, {def[0], def[1]});
    return {v[0], v[1]};
  }
  /// ZeroPadding2D's padding / Cropping2D's cropping: an int, [rows, cols] or
  /// [[top, bottom], [left, right]].
  Sides2D sides2D(const char *key, int64_t def) const {
    if (!has(key))
      return Sides2D(def);
    const json &v = c[key];
    if (v.is_number())
      return Sides2D(integer(v, key));
    if (v.is_array() && v.size() == 2 && v[0].is_number() && v[1].is_number())
      return Sides2D(integer(v[0], key), integer(v[1], key));
    if (v.is_array() && v.size() == 2 && v[0].is_array() && v[1].is_array() &&
        v[0].size() == 2 && v[1].size() == 2)
      return Sides2D({integer(v[0][0], key), integer(v[0][1], key)},
                     {integer(v[1][0], key), integer(v[1][1], key)});
    throw error(cls + " config key '" + key + "' must be an integer, [rows, cols] or "
                "[[top, bottom], [left, right]], got " + v.dump());
  }
  void requireNull(const char *key, const std::string &why = "") const {
    if (has(key))
      throw error(cls + " option '" + key + "' = " + c[key].dump() + " is not supported by kiln" +
                  (why.empty() ? "" : " (" + why + ")"));
  }

  std::string activation(const char *key = "activation") const {
    if (!has(key))
      return "linear";
    const json &v = c[key];
    std::string name;
    if (v.is_string())
      name = v.get<std::string>();
    else if (v.is_object() && v.contains("config") && v["config"].is_string())
      name = v["config"].get<std::string>(); // Keras 3 {"class_name": "function", ...}
    else
      throw error(cls + " activation " + v.dump() + " is not one kiln can read");
    if (name == "relu6" || name == "mish" || name == "log_softmax")
      throw error("activation '" + name + "' is not supported by kiln");
    checkActivation(layer, name);
    return name;
  }

  Initializer initializer(const char *key, const std::string &def) const {
    if (!has(key))
      return Initializer(def);
    const json &v = c[key];
    try {
      if (v.is_string())
        return Initializer(v.get<std::string>());
      if (!v.is_object() || !v.contains("class_name") || !v["class_name"].is_string())
        throw error(cls + " " + key + " " + v.dump() + " is not a Keras initializer");
      std::string name = v["class_name"].get<std::string>();
      json ic = v.contains("config") && v["config"].is_object() ? v["config"] : json::object();
      ConfigReader r{layer, name, ic};
      std::optional<uint64_t> seed;
      if (r.has("seed"))
        seed = static_cast<uint64_t>(r.getInt("seed"));
      if (name == "RandomNormal" || name == "random_normal")
        return initializers::RandomNormal(r.getDouble("mean", 0.0), r.getDouble("stddev", 0.05),
                                          seed);
      if (name == "RandomUniform" || name == "random_uniform")
        return initializers::RandomUniform(r.getDouble("minval", -0.05),
                                           r.getDouble("maxval", 0.05), seed);
      if (name == "Constant" || name == "constant")
        return initializers::Constant(r.getDouble("value", 0.0));
      if (name == "Orthogonal" || name == "orthogonal")
        return initializers::Orthogonal(r.getDouble("gain", 1.0), seed);
      if (name == "VarianceScaling") {
        double scale = r.getDouble("scale", 1.0);
        std::string mode = r.getString("mode", "fan_in");
        std::string dist = r.getString("distribution", "truncated_normal");
        std::string kind = dist == "uniform" ? "uniform" : "normal";
        std::string base;
        if (scale == 1.0 && mode == "fan_avg")
          base = "glorot";
        else if (scale == 2.0 && mode == "fan_in")
          base = "he";
        else if (scale == 1.0 && mode == "fan_in")
          base = "lecun";
        else
          throw error(cls + " " + key + ": VarianceScaling(scale=" + std::to_string(scale) +
                      ", mode='" + mode + "') is not supported by kiln");
        Initializer init(base + "_" + kind);
        init.seed = seed;
        return init;
      }
      Initializer init(name);
      init.seed = seed;
      return init;
    } catch (const Error &e) {
      if (!e.layer().empty())
        throw;
      throw error(cls + " " + key + ": " + e.message());
    }
  }

  /// A Keras regularizer: {"class_name": "L2", "config": {"l2": 0.01}} (also L1, L1L2, and the
  /// strings "l1", "l2", "l1_l2" with Keras' defaults 0.01), or null.
  std::optional<Regularizer> regularizer(const char *key) const {
    if (!has(key))
      return std::nullopt;
    const json &v = c[key];
    std::string kind;
    json rc = json::object();
    if (v.is_string()) {
      kind = v.get<std::string>();
    } else if (v.is_object() && v.contains("class_name") && v["class_name"].is_string()) {
      kind = v["class_name"].get<std::string>();
      if (v.contains("config") && v["config"].is_object())
        rc = v["config"];
    } else {
      throw error(cls + " " + key + " " + v.dump() + " is not a Keras regularizer");
    }
    ConfigReader r{layer, kind, rc};
    Regularizer out;
    if (kind == "L1" || kind == "l1")
      out = regularizers::L1(r.getDouble("l1", 0.01));
    else if (kind == "L2" || kind == "l2")
      out = regularizers::L2(r.getDouble("l2", 0.01));
    else if (kind == "l1_l2")
      out = regularizers::l1_l2(r.getDouble("l1", 0.01), r.getDouble("l2", 0.01));
    else if (kind == "L1L2")
      out = regularizers::L1L2(r.getDouble("l1", 0.0), r.getDouble("l2", 0.0));
    else
      throw error(cls + " " + key + ": regularizer '" + kind +
                  "' is not supported by kiln (it has L1, L2, L1L2)");
    if (!(out.l1 >= 0 && out.l2 >= 0 && std::isfinite(out.l1) && std::isfinite(out.l2)))
      throw error(cls + " " + key + ": regularization factors must be finite and >= 0, got " +
                  v.dump());
    return out;
  }
  /// A Keras constraint (MaxNorm, NonNeg, UnitNorm, MinMaxNorm, or their snake_case names), or
  /// null.
  std::optional<Constraint> constraint(const char *key) const {
    if (!has(key))
      return std::nullopt;
    const json &v = c[key];
    std::string kind;
    json cc = json::object();
    if (v.is_string()) {
      kind = v.get<std::string>();
    } else if (v.is_object() && v.contains("class_name") && v["class_name"].is_string()) {
      kind = v["class_name"].get<std::string>();
      if (v.contains("config") && v["config"].is_object())
        cc = v["config"];
    } else {
      throw error(cls + " " + key + " " + v.dump() + " is not a Keras constraint");
    }
    ConfigReader r{layer, kind, cc};
    auto axis = [&] {
      if (!r.has("axis"))
        return std::vector<int64_t>{0};
      if (cc["axis"].is_array())
        return r.getInts("axis", 0, {});
      return std::vector<int64_t>{r.getInt("axis")};
    };
    if (kind == "MaxNorm" || kind == "max_norm")
      return constraints::MaxNorm(r.getDouble("max_value", 2.0), axis());
    if (kind == "NonNeg" || kind == "non_neg")
      return constraints::NonNeg();
    if (kind == "UnitNorm" || kind == "unit_norm")
      return constraints::UnitNorm(axis());
    if (kind == "MinMaxNorm" || kind == "min_max_norm")
      return constraints::MinMaxNorm(r.getDouble("min_value", 0.0), r.getDouble("max_value", 1.0),
                                     r.getDouble("rate", 1.0), axis());
    throw error(cls + " " + key + ": constraint '" + kind +
                "' is not supported by kiln (it has MaxNorm, NonNeg, UnitNorm, MinMaxNorm)");
  }

  void checkDtype() const {
    if (!has("dtype"))
      return;
    const json &v = c["dtype"];
    std::string name;
    if (v.is_string())
      name = v.get<std::string>();
    else if (v.is_object() && v.contains("config") && v["config"].is_object() &&
             v["config"].contains("name") && v["config"]["name"].is_string())
      name = v["config"]["name"].get<std::string>();
    else
      throw error(cls + " dtype " + v.dump() + " is not one kiln can read");
    if (name != "float32")
      throw error("dtype '" + name + "' is not supported; kiln computes in float32");
  }

  void checkDataFormat() const {
    std::string f = getString("data_format", "channels_last");
    if (f != "channels_last")
      throw error(cls + " data_format '" + f +
                  "' is not supported; kiln's layers are channels_last (NHWC)");
  }
  void checkRegularizers() const {
    for (const char *k : {"kernel_regularizer", "bias_regularizer", "activity_regularizer",
                          "kernel_constraint", "bias_constraint"})
      requireNull(k);
  }
};

/// A batch shape from a config ([null, 28, 28, 1]), checked: positive dims, no overflow.
Shape readBatchShape(const std::string &layer, const json &v, const std::string &key) {
  if (!v.is_array() || v.size() < 2)
    throw Error(layer, "'" + key + "' must be a list [null, d1, ...] with at least one "
                                   "per-sample dimension, got " +
                           v.dump());
  Shape out;
  int64_t count = 1;
  for (size_t i = 1; i < v.size(); ++i) {
    if (!v[i].is_number_integer() || v[i].get<int64_t>() <= 0 || v[i].get<int64_t>() > kMaxDim)
      throw Error(layer, "'" + key + "' entry " + std::to_string(i) + " must be a positive "
                         "integer below 2^31 (only the batch may be None), got " +
                             v.dump());
    int64_t d = v[i].get<int64_t>();
    if (count > kMaxSampleElements / d)
      throw Error(layer, "'" + key + "' " + v.dump() +
                             " has more elements per sample than kiln allows (2^40)");
    count *= d;
    out.push_back(d);
  }
  return out;
}

/// The per-sample input shape a config declares (InputLayer, or a first layer's
/// batch_input_shape), if any.
std::optional<Shape> declaredInputShape(const std::string &layer, const json &c) {
  for (const char *key : {"batch_shape", "batch_input_shape"})
    if (c.contains(key) && !c[key].is_null())
      return readBatchShape(layer, c[key], key);
  if (c.contains("input_shape") && c["input_shape"].is_array()) {
    json b = json::array({nullptr});
    for (const json &d : c["input_shape"])
      b.push_back(d);
    return readBatchShape(layer, b, "input_shape");
  }
  return std::nullopt;
}

struct LayerEntry {
  std::string name, cls;
  const json *config;
};

LayerEntry entryOf(const json &l, size_t index) {
  if (!l.is_object() || !l.contains("class_name") || !l["class_name"].is_string())
    throw Error("", "model config layer #" + std::to_string(index) +
                        " has no string 'class_name'");
  if (!l.contains("config") || !l["config"].is_object())
    throw Error("", "model config layer #" + std::to_string(index) + " (" +
                        l["class_name"].get<std::string>() + ") has no 'config' object");
  const json &c = l["config"];
  std::string name;
  if (c.contains("name") && c["name"].is_string())
    name = c["name"].get<std::string>();
  else if (l.contains("name") && l["name"].is_string())
    name = l["name"].get<std::string>();
  else
    throw Error("", "model config layer #" + std::to_string(index) + " (" +
                        l["class_name"].get<std::string>() + ") has no name");
  return {name, l["class_name"].get<std::string>(), &c};
}

} // namespace

namespace {
Layer layerOfClass(const std::string &name, const std::string &cls, const json &c);
} // namespace

/// The layer of a config entry, with the keys every layer has (trainable) applied.
Layer layerFromEntry(const std::string &name, const std::string &cls, const json &c) {
  Layer layer = layerOfClass(name, cls, c);
  ConfigReader r{name, cls, c};
  layer.set_trainable(r.getBool("trainable", true));
  return layer;
}

namespace {
Layer layerOfClass(const std::string &name, const std::string &cls, const json &c) {
  ConfigReader r{name, cls, c};
  r.checkDtype();
  if (cls == "Dense") {
    DenseOptions o;
    o.kernel_regularizer = r.regularizer("kernel_regularizer");
    o.bias_regularizer = r.regularizer("bias_regularizer");
    o.activity_regularizer = r.regularizer("activity_regularizer");
    o.kernel_constraint = r.constraint("kernel_constraint");
    o.bias_constraint = r.constraint("bias_constraint");
    o.activation = r.activation();
    o.use_bias = r.getBool("use_bias", true);
    o.kernel_initializer = r.initializer("kernel_initializer", "glorot_uniform");
    o.bias_initializer = r.initializer("bias_initializer", "zeros");
    o.name = name;
    return Dense(r.getInt("units"), o);
  }
  if (cls == "Conv2D") {
    Conv2DOptions o;
    o.kernel_regularizer = r.regularizer("kernel_regularizer");
    o.bias_regularizer = r.regularizer("bias_regularizer");
    o.activity_regularizer = r.regularizer("activity_regularizer");
    o.kernel_constraint = r.constraint("kernel_constraint");
    o.bias_constraint = r.constraint("bias_constraint");
    o.strides = r.getPair("strides", {1, 1});
    o.padding = r.getString("padding", "valid");
    o.dilation_rate = r.getPair("dilation_rate", {1, 1});
    o.groups = r.getInt("groups", 1);
    o.activation = r.activation();
    o.use_bias = r.getBool("use_bias", true);
    o.kernel_initializer = r.initializer("kernel_initializer", "glorot_uniform");
    o.bias_initializer = r.initializer("bias_initializer", "zeros");
    o.data_format = r.getString("data_format", "channels_last");
    o.name = name;
    if (!r.has("kernel_size"))
      throw r.error("Conv2D config is missing 'kernel_size'");
    return Conv2D(r.getInt("filters"), r.getPair("kernel_size", {1, 1}), o);
  }
  if (cls == "Conv3D") {
    Conv3DOptions o;
    o.kernel_regularizer = r.regularizer("kernel_regularizer");
    o.bias_regularizer = r.regularizer("bias_regularizer");
    o.activity_regularizer = r.regularizer("activity_regularizer");
    o.kernel_constraint = r.constraint("kernel_constraint");
    o.bias_constraint = r.constraint("bias_constraint");
    auto triple = [&](const char *key, int64_t def) {
      auto v = r.getInts(key, 3, {def, def, def});
      return std::array<int64_t, 3>{v[0], v[1], v[2]};
    };
    o.strides = triple("strides", 1);
    o.padding = r.getString("padding", "valid");
    o.dilation_rate = triple("dilation_rate", 1);
    o.groups = r.getInt("groups", 1);
    o.activation = r.activation();
    o.use_bias = r.getBool("use_bias", true);
    o.kernel_initializer = r.initializer("kernel_initializer", "glorot_uniform");
    o.bias_initializer = r.initializer("bias_initializer", "zeros");
    o.data_format = r.getString("data_format", "channels_last");
    o.name = name;
    if (!r.has("kernel_size"))
      throw r.error("Conv3D config is missing 'kernel_size'");
    return Conv3D(r.getInt("filters"), triple("kernel_size", 1), o);
  }
  if (cls == "MaxPooling3D" || cls == "AveragePooling3D" || cls == "MaxPool3D" ||
      cls == "AvgPool3D" || cls == "AveragePool3D") {
    Pooling3DOptions o;
    auto v = r.getInts("pool_size", 3, {2, 2, 2});
    if (r.has("strides"))
      o.strides = r.getInts("strides", 3, {});
    o.padding = r.getString("padding", "valid");
    o.data_format = r.getString("data_format", "channels_last");
    o.name = name;
    std::array<int64_t, 3> pool = {v[0], v[1], v[2]};
    if (cls.starts_with("Max"))
      return MaxPooling3D(pool, o);
    return AveragePooling3D(pool, o);
  }
  if (cls == "MaxPooling2D" || cls == "AveragePooling2D" || cls == "MaxPool2D" ||
      cls == "AvgPool2D" || cls == "AveragePool2D") {
    Pooling2DOptions o;
    auto pool = r.getPair("pool_size", {2, 2});
    if (r.has("strides"))
      o.strides = r.getInts("strides", 2, {});
    o.padding = r.getString("padding", "valid");
    o.data_format = r.getString("data_format", "channels_last");
    o.name = name;
    if (cls.starts_with("Max"))
      return MaxPooling2D(pool, o);
    return AveragePooling2D(pool, o);
  }
  if (cls == "Flatten") {
    r.checkDataFormat();
    return Flatten({name});
  }
  if (cls == "Reshape") {
    if (!r.has("target_shape") || !c["target_shape"].is_array())
      throw r.error("Reshape config needs a list 'target_shape', got " +
                    (c.contains("target_shape") ? c["target_shape"].dump() : "none"));
    return Reshape(r.getInts("target_shape", 0, {}), {name});
  }
  if (cls == "Activation")
    return Activation(r.activation(), {name});
  if (cls == "ReLU") {
    ReLUOptions o;
    if (r.has("max_value"))
      o.max_value = r.getDouble("max_value", 0.0);
    o.negative_slope = r.getDouble("negative_slope", 0.0);
    o.threshold = r.getDouble("threshold", 0.0);
    o.name = name;
    return ReLU(o);
  }
  if (cls == "Dropout") {
    r.requireNull("noise_shape");
    double rate = r.getDouble("rate", -1.0);
    if (!r.has("rate"))
      throw r.error("Dropout config is missing 'rate'");
    DropoutOptions o;
    if (r.has("seed"))
      o.seed = static_cast<uint64_t>(r.getInt("seed"));
    o.name = name;
    return Dropout(rate, o);
  }
  if (cls == "GaussianNoise" || cls == "GaussianDropout") {
    const char *key = cls == "GaussianNoise" ? "stddev" : "rate";
    if (!r.has(key))
      throw r.error(cls + " config is missing '" + key + "'");
    DropoutOptions o;
    if (r.has("seed"))
      o.seed = static_cast<uint64_t>(r.getInt("seed"));
    o.name = name;
    if (cls == "GaussianNoise")
      return GaussianNoise(r.getDouble(key, 0.0), o);
    return GaussianDropout(r.getDouble(key, 0.0), o);
  }
  if (cls == "SpatialDropout2D") {
    r.requireNull("noise_shape");
    if (!r.has("rate"))
      throw r.error("SpatialDropout2D config is missing 'rate'");
    SpatialDropout2DOptions o;
    o.data_format = r.getString("data_format", "channels_last");
    if (r.has("seed"))
      o.seed = static_cast<uint64_t>(r.getInt("seed"));
    o.name = name;
    return SpatialDropout2D(r.getDouble("rate", 0.0), o);
  }
  if (cls == "Add")
    return Add({name});
  if (cls == "Multiply")
    return Multiply({name});
  if (cls == "Subtract")
    return Subtract({name});
  if (cls == "Average")
    return Average({name});
  if (cls == "Maximum")
    return Maximum({name});
  if (cls == "Minimum")
    return Minimum({name});
  if (cls == "GlobalAveragePooling2D" || cls == "GlobalAvgPool2D" ||
      cls == "GlobalMaxPooling2D" || cls == "GlobalMaxPool2D" ||
      cls == "GlobalAveragePooling1D" || cls == "GlobalAvgPool1D" ||
      cls == "GlobalMaxPooling1D" || cls == "GlobalMaxPool1D") {
    GlobalPoolingOptions o;
    o.data_format = r.getString("data_format", "channels_last");
    o.keepdims = r.getBool("keepdims", false);
    o.name = name;
    bool max = cls.starts_with("GlobalMax");
    if (cls.ends_with("2D"))
      return max ? Layer(GlobalMaxPooling2D(o)) : Layer(GlobalAveragePooling2D(o));
    return max ? Layer(GlobalMaxPooling1D(o)) : Layer(GlobalAveragePooling1D(o));
  }
  if (cls == "LayerNormalization") {
    for (const char *k : {"beta_regularizer", "gamma_regularizer", "beta_constraint",
                          "gamma_constraint"})
      r.requireNull(k);
    if (r.getBool("rms_scaling", false))
      throw r.error("LayerNormalization option 'rms_scaling' is not supported by kiln");
    LayerNormalizationOptions o;
    if (r.has("axis")) // an int, or a list (Keras writes [-1] once the layer is built)
      o.axis = c["axis"].is_array() ? r.getInts("axis", 0, {})
                                    : std::vector<int64_t>{r.getInt("axis")};
    o.epsilon = r.getDouble("epsilon", 1e-3);
    o.center = r.getBool("center", true);
    o.scale = r.getBool("scale", true);
    o.beta_initializer = r.initializer("beta_initializer", "zeros");
    o.gamma_initializer = r.initializer("gamma_initializer", "ones");
    o.name = name;
    return LayerNormalization(o);
  }
  if (cls == "ZeroPadding2D" || cls == "Cropping2D") {
    bool crop = cls == "Cropping2D";
    Spatial2DOptions o;
    o.data_format = r.getString("data_format", "channels_last");
    o.name = name;
    Sides2D sides = r.sides2D(crop ? "cropping" : "padding", crop ? 0 : 1);
    if (crop)
      return Cropping2D(sides, o);
    return ZeroPadding2D(sides, o);
  }
  if (cls == "UpSampling2D") {
    UpSampling2DOptions o;
    o.data_format = r.getString("data_format", "channels_last");
    o.interpolation = r.getString("interpolation", "nearest");
    o.name = name;
    return UpSampling2D(r.getPair("size", {2, 2}), o);
  }
  if (cls == "Permute") {
    if (!r.has("dims") || !c["dims"].is_array())
      throw r.error("Permute config needs a list 'dims', got " +
                    (c.contains("dims") ? c["dims"].dump() : "none"));
    return Permute(r.getInts("dims", 0, {}), {name});
  }
  if (cls == "RepeatVector")
    return RepeatVector(r.getInt("n"), {name});
  if (cls == "BatchNormalization") {
    for (const char *k : {"beta_regularizer", "gamma_regularizer", "beta_constraint",
                          "gamma_constraint"})
      r.requireNull(k);
    BatchNormalizationOptions o;
    if (c.contains("axis") && c["axis"].is_array()) {
      if (c["axis"].size() != 1 || !c["axis"][0].is_number_integer())
        throw r.error("BatchNormalization over several axes (" + c["axis"].dump() +
                      ") is not supported by kiln");
      o.axis = c["axis"][0].get<int64_t>();
    } else {
      o.axis = r.getInt("axis", -1);
    }
    o.momentum = r.getDouble("momentum", 0.99);
    o.epsilon = r.getDouble("epsilon", 1e-3);
    o.center = r.getBool("center", true);
    o.scale = r.getBool("scale", true);
    o.beta_initializer = r.initializer("beta_initializer", "zeros");
    o.gamma_initializer = r.initializer("gamma_initializer", "ones");
    o.moving_mean_initializer = r.initializer("moving_mean_initializer", "zeros");
    o.moving_variance_initializer = r.initializer("moving_variance_initializer", "ones");
    if (r.getBool("renorm", false))
      throw r.error("BatchNormalization option 'renorm' is not supported by kiln");
    o.name = name;
    return BatchNormalization(o);
  }
  if (cls == "Masking")
    return Masking(r.getDouble("mask_value", 0.0), {name});
  if (cls == "Embedding") {
    for (const char *k : {"embeddings_regularizer", "activity_regularizer",
                          "embeddings_constraint"})
      r.requireNull(k);
    if (r.getBool("sparse", false))
      throw r.error("Embedding option 'sparse' = true is not supported by kiln");
    EmbeddingOptions o;
    o.embeddings_initializer = r.initializer("embeddings_initializer", "random_uniform");
    o.mask_zero = r.getBool("mask_zero", false);
    o.name = name;
    return Embedding(r.getInt("input_dim"), r.getInt("output_dim"), o);
  }
  if (cls == "SimpleRNN" || cls == "LSTM" || cls == "GRU") {
    for (const char *k : {"kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
                          "activity_regularizer", "kernel_constraint", "recurrent_constraint",
                          "bias_constraint"})
      r.requireNull(k);
    if (r.getBool("stateful", false))
      throw r.error(cls + " option 'stateful' = true is not supported by kiln");
    if (r.getBool("time_major", false))
      throw r.error(cls + " option 'time_major' = true is not supported by kiln");
    RecurrentOptions o;
    o.activation = r.activation();
    if (!r.has("activation"))
      o.activation = "tanh";
    if (cls != "SimpleRNN")
      o.recurrent_activation =
          r.has("recurrent_activation") ? r.activation("recurrent_activation") : "sigmoid";
    o.use_bias = r.getBool("use_bias", true);
    o.kernel_initializer = r.initializer("kernel_initializer", "glorot_uniform");
    o.recurrent_initializer = r.initializer("recurrent_initializer", "orthogonal");
    o.bias_initializer = r.initializer("bias_initializer", "zeros");
    o.unit_forget_bias = r.getBool("unit_forget_bias", true);
    o.return_sequences = r.getBool("return_sequences", false);
    o.return_state = r.getBool("return_state", false);
    o.go_backwards = r.getBool("go_backwards", false);
    o.unroll = r.getBool("unroll", false);
    o.zero_output_for_mask = r.getBool("zero_output_for_mask", false);
    o.dropout = r.getDouble("dropout", 0.0);
    o.recurrent_dropout = r.getDouble("recurrent_dropout", 0.0);
    if (r.has("seed"))
      o.seed = static_cast<uint64_t>(r.getInt("seed"));
    // Keras writes reset_after (since 2.1); without it, Keras 3's default, true.
    o.reset_after = r.getBool("reset_after", true);
    o.name = name;
    int64_t units = r.getInt("units");
    if (cls == "SimpleRNN")
      return SimpleRNN(units, o);
    if (cls == "LSTM")
      return LSTM(units, o);
    return GRU(units, o);
  }
  if (cls == "TimeDistributed" || cls == "Bidirectional") {
    if (!r.has("layer") || !c["layer"].is_object())
      throw r.error(cls + " config needs the wrapped 'layer' config");
    LayerEntry inner = entryOf(c["layer"], 0);
    Layer wrapped = layerFromEntry(inner.name, inner.cls, *inner.config);
    if (cls == "TimeDistributed")
      return TimeDistributed(wrapped, {name});
    if (r.has("backward_layer")) {
      // Keras writes the backward copy it made itself: accept that one only.
      LayerEntry back = entryOf(c["backward_layer"], 0);
      const json &f = *inner.config, &bk = *back.config;
      if (back.cls != inner.cls || bk.value("units", json()) != f.value("units", json()) ||
          bk.value("go_backwards", false) == f.value("go_backwards", false))
        throw r.error("Bidirectional with a backward_layer other than the forward layer run "
                      "backwards is not supported by kiln");
    }
    if (r.has("constants") || r.getInt("num_constants", 0) != 0)
      throw r.error("Bidirectional with constants is not supported by kiln");
    if (!r.has("merge_mode") && c.contains("merge_mode"))
      throw r.error("Bidirectional merge_mode None (two outputs) is not supported by kiln");
    BidirectionalOptions o;
    o.merge_mode = r.getString("merge_mode", "concat");
    o.name = name;
    return Bidirectional(wrapped, o);
  }
  if (cls == "Concatenate") {
    ConcatenateOptions o;
    o.axis = r.getInt("axis", -1);
    o.name = name;
    return Concatenate(o);
  }
  // The convolution family (issue 6).
  if (cls == "Conv1D" || cls == "Convolution1D") {
    Conv1DOptions o;
    o.strides = r.getInts("strides", 1, {1})[0];
    o.padding = r.getString("padding", "valid");
    o.dilation_rate = r.getInts("dilation_rate", 1, {1})[0];
    o.groups = r.getInt("groups", 1);
    o.activation = r.activation();
    o.use_bias = r.getBool("use_bias", true);
    o.kernel_initializer = r.initializer("kernel_initializer", "glorot_uniform");
    o.bias_initializer = r.initializer("bias_initializer", "zeros");
    o.kernel_regularizer = r.regularizer("kernel_regularizer");
    o.bias_regularizer = r.regularizer("bias_regularizer");
    o.activity_regularizer = r.regularizer("activity_regularizer");
    o.kernel_constraint = r.constraint("kernel_constraint");
    o.bias_constraint = r.constraint("bias_constraint");
    o.data_format = r.getString("data_format", "channels_last");
    o.name = name;
    if (!r.has("kernel_size"))
      throw r.error("Conv1D config is missing 'kernel_size'");
    return Conv1D(r.getInt("filters"), r.getInts("kernel_size", 1, {})[0], o);
  }
  if (cls == "MaxPooling1D" || cls == "MaxPool1D" || cls == "AveragePooling1D" ||
      cls == "AvgPool1D" || cls == "AveragePool1D") {
    Pooling1DOptions o;
    int64_t pool = r.getInts("pool_size", 1, {2})[0];
    if (r.has("strides"))
      o.strides = r.getInts("strides", 1, {})[0];
    o.padding = r.getString("padding", "valid");
    o.data_format = r.getString("data_format", "channels_last");
    o.name = name;
    if (cls.starts_with("Max"))
      return MaxPooling1D(pool, o);
    return AveragePooling1D(pool, o);
  }
  if (cls == "DepthwiseConv2D") {
    DepthwiseConv2DOptions o;
    o.strides = r.getPair("strides", {1, 1});
    o.padding = r.getString("padding", "valid");
    o.depth_multiplier = r.getInt("depth_multiplier", 1);
    o.dilation_rate = r.getPair("dilation_rate", {1, 1});
    o.activation = r.activation();
    o.use_bias = r.getBool("use_bias", true);
    o.depthwise_initializer = r.initializer("depthwise_initializer", "glorot_uniform");
    o.bias_initializer = r.initializer("bias_initializer", "zeros");
    o.depthwise_regularizer = r.regularizer("depthwise_regularizer");
    o.bias_regularizer = r.regularizer("bias_regularizer");
    o.activity_regularizer = r.regularizer("activity_regularizer");
    o.depthwise_constraint = r.constraint("depthwise_constraint");
    o.bias_constraint = r.constraint("bias_constraint");
    o.data_format = r.getString("data_format", "channels_last");
    o.name = name;
    if (!r.has("kernel_size"))
      throw r.error("DepthwiseConv2D config is missing 'kernel_size'");
    return DepthwiseConv2D(r.getPair("kernel_size", {1, 1}), o);
  }
  if (cls == "SeparableConv2D" || cls == "SeparableConvolution2D") {
    SeparableConv2DOptions o;
    o.strides = r.getPair("strides", {1, 1});
    o.padding = r.getString("padding", "valid");
    o.dilation_rate = r.getPair("dilation_rate", {1, 1});
    o.depth_multiplier = r.getInt("depth_multiplier", 1);
    o.activation = r.activation();
    o.use_bias = r.getBool("use_bias", true);
    o.depthwise_initializer = r.initializer("depthwise_initializer", "glorot_uniform");
    o.pointwise_initializer = r.initializer("pointwise_initializer", "glorot_uniform");
    o.bias_initializer = r.initializer("bias_initializer", "zeros");
    o.depthwise_regularizer = r.regularizer("depthwise_regularizer");
    o.pointwise_regularizer = r.regularizer("pointwise_regularizer");
    o.bias_regularizer = r.regularizer("bias_regularizer");
    o.activity_regularizer = r.regularizer("activity_regularizer");
    o.depthwise_constraint = r.constraint("depthwise_constraint");
    o.pointwise_constraint = r.constraint("pointwise_constraint");
    o.bias_constraint = r.constraint("bias_constraint");
    o.data_format = r.getString("data_format", "channels_last");
    o.name = name;
    if (!r.has("kernel_size"))
      throw r.error("SeparableConv2D config is missing 'kernel_size'");
    return SeparableConv2D(r.getInt("filters"), r.getPair("kernel_size", {1, 1}), o);
  }
  if (cls == "Conv2DTranspose" || cls == "Convolution2DTranspose") {
    r.requireNull("output_padding");
    Conv2DTransposeOptions o;
    o.strides = r.getPair("strides", {1, 1});
    o.padding = r.getString("padding", "valid");
    o.dilation_rate = r.getPair("dilation_rate", {1, 1});
    if (r.getInt("groups", 1) != 1)
      throw r.error("Conv2DTranspose option 'groups' = " + std::to_string(r.getInt("groups")) +
                    " is not supported by kiln (only groups=1)");
    o.activation = r.activation();
    o.use_bias = r.getBool("use_bias", true);
    o.kernel_initializer = r.initializer("kernel_initializer", "glorot_uniform");
    o.bias_initializer = r.initializer("bias_initializer", "zeros");
    o.kernel_regularizer = r.regularizer("kernel_regularizer");
    o.bias_regularizer = r.regularizer("bias_regularizer");
    o.activity_regularizer = r.regularizer("activity_regularizer");
    o.kernel_constraint = r.constraint("kernel_constraint");
    o.bias_constraint = r.constraint("bias_constraint");
    o.data_format = r.getString("data_format", "channels_last");
    o.name = name;
    if (!r.has("kernel_size"))
      throw r.error("Conv2DTranspose config is missing 'kernel_size'");
    return Conv2DTranspose(r.getInt("filters"), r.getPair("kernel_size", {1, 1}), o);
  }
  if (cls == "Dot") {
    if (!r.has("axes"))
      throw r.error("Dot config is missing 'axes'");
    auto axes = r.getInts("axes", 2, {});
    return Dot({axes[0], axes[1]}, {.normalize = r.getBool("normalize", false), .name = name});
  }
  throw Error(name, "unknown layer class '" + cls +
                        "': kiln has InputLayer, Dense, Conv2D, MaxPooling2D, AveragePooling2D, "
                        "Flatten, Reshape, Activation, ReLU, Dropout, Add, Subtract, Multiply, "
                        "Average, Maximum, Minimum, Concatenate, BatchNormalization, "
                        "LayerNormalization, GlobalAveragePooling1D/2D, GlobalMaxPooling1D/2D, "
                        "ZeroPadding2D, Cropping2D, UpSampling2D, Permute, RepeatVector, Conv1D, "
                        "MaxPooling1D, AveragePooling1D, DepthwiseConv2D, SeparableConv2D, "
                        "Conv2DTranspose, Dot, Embedding, SimpleRNN, LSTM, GRU, "
                        "TimeDistributed, Bidirectional");
}
} // namespace

namespace {

Model sequentialFromConfig(const json &model) {
  const json &conf = model["config"];
  const json &layers = conf.is_array() ? conf : conf.contains("layers") ? conf["layers"] : json();
  std::string name = conf.is_object() && conf.contains("name") && conf["name"].is_string()
                         ? conf["name"].get<std::string>()
                         : "";
  if (!layers.is_array())
    throw Error(name, "Sequential config has no 'layers' list");
  Sequential seq({name});
  for (size_t i = 0; i < layers.size(); ++i) {
    LayerEntry e = entryOf(layers[i], i);
    if (e.cls == "InputLayer") {
      if (i != 0)
        throw Error(e.name, "an InputLayer can only start a Sequential model (it is layer #" +
                                std::to_string(i) + ")");
      auto shape = declaredInputShape(e.name, *e.config);
      if (!shape)
        throw Error(e.name, "InputLayer config has no 'batch_shape' / 'batch_input_shape'");
      seq.add(Input(*shape, {e.name}));
      continue;
    }
    if (i == 0)
      if (auto shape = declaredInputShape(e.name, *e.config))
        seq.add(Input(*shape, {e.name + "_input"})); // tf.keras' name for it
    seq.add(layerFromEntry(e.name, e.cls, *e.config));
  }
  return seq;
}

/// [name, node, tensor] (Keras 2 adds a kwargs dict) from an input_layers / output_layers list or
/// a Keras 2 inbound entry.
struct History {
  std::string layer;
  int64_t node = 0, tensor = 0;
};

History readHistory(const std::string &owner, const json &v) {
  if (!v.is_array() || v.size() < 3 || !v[0].is_string() || !v[1].is_number_integer() ||
      !v[2].is_number_integer())
    throw Error(owner, "malformed tensor reference " + v.dump() +
                           " (expected [\"layer\", node_index, tensor_index])");
  if (v[2].get<int64_t>() < 0)
    throw Error(owner, "tensor reference " + v.dump() + " has a negative tensor index");
  if (v.size() > 3 && v[3].is_object())
    for (auto &[k, val] : v[3].items())
      if (k != "training" && k != "mask")
        throw Error(owner, "call argument '" + k + "' in " + v.dump() +
                               " is not supported by kiln");
  return {v[0].get<std::string>(), v[1].get<int64_t>(), v[2].get<int64_t>()};
}

/// Every keras tensor in a Keras 3 node's args, in order.
void collectKeras3Tensors(const std::string &owner, const json &v, std::vector<History> &out) {
  if (v.is_array()) {
    for (const json &e : v)
      collectKeras3Tensors(owner, e, out);
  } else if (v.is_object()) {
    if (v.contains("class_name") && v["class_name"] == "__keras_tensor__") {
      if (!v.contains("config") || !v["config"].contains("keras_history"))
        throw Error(owner, "a __keras_tensor__ without keras_history: " + v.dump());
      out.push_back(readHistory(owner, v["config"]["keras_history"]));
    } else {
      throw Error(owner, "unsupported argument in an inbound node: " + v.dump());
    }
  }
}

std::vector<History> readNode(const std::string &owner, const json &node) {
  std::vector<History> out;
  if (node.is_array()) { // Keras 2: [["dense", 0, 0, {}], ...]
    for (const json &h : node)
      out.push_back(readHistory(owner, h));
  } else if (node.is_object() && node.contains("args")) { // Keras 3
    collectKeras3Tensors(owner, node["args"], out);
    if (node.contains("kwargs") && node["kwargs"].is_object())
      for (auto &[k, val] : node["kwargs"].items())
        if (k != "training" && k != "mask")
          throw Error(owner, "call argument '" + k + "' is not supported by kiln");
  } else {
    throw Error(owner, "malformed inbound node " + node.dump());
  }
  if (out.empty())
    throw Error(owner, "an inbound node with no input tensors: " + node.dump());
  return out;
}

std::vector<History> readEnds(const std::string &model, const json &v, const char *key) {
  if (!v.is_array() || v.empty())
    throw Error(model, "Functional config needs a non-empty '" + std::string(key) + "' list");
  std::vector<History> out;
  if (v[0].is_string()) // Keras 3 writes a single input as ["input", 0, 0]
    out.push_back(readHistory(model, v));
  else
    for (const json &h : v)
      out.push_back(readHistory(model, h));
  return out;
}

Model functionalFromConfig(const json &model) {
  const json &conf = model["config"];
  if (!conf.is_object())
    throw Error("", "Functional config must be an object");
  std::string name = conf.contains("name") && conf["name"].is_string()
                         ? conf["name"].get<std::string>()
                         : "";
  if (!conf.contains("layers") || !conf["layers"].is_array())
    throw Error(name, "Functional config has no 'layers' list");
  const json &layers = conf["layers"];

  struct Pending {
    LayerEntry entry;
    std::optional<Layer> layer;
    std::vector<std::vector<History>> nodes;
    size_t done = 0;
  };
  std::vector<Pending> all;
  std::map<std::string, size_t> byName;
  std::map<std::pair<std::string, int64_t>, std::vector<Tensor>> produced;
  // The tensor a reference names, if its call has been made; throws for a tensor index past
  // the call's outputs.
  auto find = [&](const History &h) -> const Tensor * {
    auto it = produced.find({h.layer, h.node});
    if (it == produced.end())
      return nullptr;
    if (h.tensor >= static_cast<int64_t>(it->second.size()))
      throw Error(h.layer, "a tensor reference asks for output #" + std::to_string(h.tensor) +
                               " of node " + std::to_string(h.node) + ", which has " +
                               std::to_string(it->second.size()) + " output(s)");
    return &it->second[h.tensor];
  };
  for (size_t i = 0; i < layers.size(); ++i) {
    LayerEntry e = entryOf(layers[i], i);
    if (byName.count(e.name))
      throw Error(name, "two layers are named '" + e.name + "'");
    byName[e.name] = all.size();
    std::vector<std::vector<History>> nodes;
    const json &l = layers[i];
    if (l.contains("inbound_nodes") && !l["inbound_nodes"].is_null()) {
      if (!l["inbound_nodes"].is_array())
        throw Error(e.name, "'inbound_nodes' must be a list");
      for (const json &n : l["inbound_nodes"])
        nodes.push_back(readNode(e.name, n));
    }
    if (e.cls == "InputLayer") {
      auto shape = declaredInputShape(e.name, *e.config);
      if (!shape)
        throw Error(e.name, "InputLayer config has no 'batch_shape' / 'batch_input_shape'");
      if (!nodes.empty())
        throw Error(e.name, "an InputLayer cannot have inbound nodes");
      Tensor t = Input(*shape, {e.name});
      produced[{e.name, 0}] = {t};
      all.push_back({e, std::nullopt, {}, 0});
      continue;
    }
    all.push_back({e, layerFromEntry(e.name, e.cls, *e.config), std::move(nodes), 0});
  }
  // Keras' reconstruction: call each layer on its nodes as soon as their inputs exist.
  for (bool progress = true; progress;) {
    progress = false;
    for (Pending &p : all) {
      while (p.done < p.nodes.size()) {
        std::vector<Tensor> ins;
        for (const History &h : p.nodes[p.done]) {
          if (!byName.count(h.layer))
            throw Error(p.entry.name, "inbound node refers to layer '" + h.layer +
                                          "', which is not in the model");
          const Tensor *t = find(h);
          if (!t)
            break;
          ins.push_back(*t);
        }
        if (ins.size() != p.nodes[p.done].size())
          break;
        std::vector<Tensor> outs =
            ins.size() == 1 ? p.layer->call_all(ins[0]) : std::vector<Tensor>{(*p.layer)(ins)};
        produced[{p.entry.name, static_cast<int64_t>(p.done)}] = outs;
        ++p.done;
        progress = true;
      }
    }
  }
  for (const Pending &p : all)
    if (p.done < p.nodes.size())
      throw Error(p.entry.name, "inbound node #" + std::to_string(p.done) +
                                    " cannot be computed: its inputs never appear in the "
                                    "graph (a cycle, or a node index that does not exist)");
  auto lookup = [&](const History &h, const char *what) {
    const Tensor *t = find(h);
    if (!t)
      throw Error(name, std::string(what) + " refers to layer '" + h.layer + "' node " +
                            std::to_string(h.node) + ", which the graph does not produce");
    return *t;
  };
  std::vector<Tensor> ins, outs;
  if (!conf.contains("input_layers") || !conf.contains("output_layers"))
    throw Error(name, "Functional config needs 'input_layers' and 'output_layers'");
  for (const History &h : readEnds(name, conf["input_layers"], "input_layers"))
    ins.push_back(lookup(h, "input_layers"));
  for (const History &h : readEnds(name, conf["output_layers"], "output_layers"))
    outs.push_back(lookup(h, "output_layers"));
  // Keras' model.trainable = False freezes every layer.
  if (conf.contains("trainable") && conf["trainable"].is_boolean() && !conf["trainable"])
    for (Pending &p : all)
      if (p.layer)
        p.layer->set_trainable(false);
  return Model(ins, outs, {name});
}

} // namespace
} // namespace detail

using namespace detail;
using json = nlohmann::json;

Layer layer_from_config(const json &layer) {
  LayerEntry e = entryOf(layer, 0);
  if (e.cls == "InputLayer")
    throw Error(e.name, "an InputLayer is made with kiln::Input, not layer_from_config");
  return layerFromEntry(e.name, e.cls, *e.config);
}

Model model_from_config(const json &model) {
  if (!model.is_object() || !model.contains("class_name") || !model["class_name"].is_string())
    throw Error("", "a Keras model config is an object with a string 'class_name', got " +
                        std::string(kindOf(model)));
  if (!model.contains("config"))
    throw Error("", "the model config has no 'config'");
  std::string cls = model["class_name"].get<std::string>();
  if (cls == "Sequential")
    return sequentialFromConfig(model);
  if (cls == "Functional" || cls == "Model")
    return functionalFromConfig(model);
  throw Error("", "unknown model class '" + cls + "' (kiln reads Sequential and Functional)");
}

Model model_from_json(const std::string &text) {
  json j = parseJsonCapped(text, "model config");
  // A tfjs model.json or a whole .h5 attribute set may wrap the config.
  if (j.is_object() && j.contains("modelTopology"))
    j = j["modelTopology"];
  if (j.is_object() && j.contains("model_config"))
    j = j["model_config"];
  return model_from_config(j);
}

std::string Model::to_json(int indent, bool keras2) const {
  return modelConfig(*impl, keras2).dump(indent);
}

json Layer::get_config() const {
  return detail::layerConfig(*impl, /*keras2=*/false);
}

} // namespace kiln
