//===- GoldenModel.h - rebuild a golden case's Keras model with the C++ API -===//
#ifndef KILN_TEST_E2E_GOLDENMODEL_H
#define KILN_TEST_E2E_GOLDENMODEL_H

#include "kiln/Npy.h"
#include "kiln/kiln.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <stdexcept>

namespace golden {

using json = nlohmann::json;
using namespace kiln;

inline std::array<int64_t, 2> pair(const json &v) {
  if (v.is_number())
    return {v.get<int64_t>(), v.get<int64_t>()};
  return {v[0].get<int64_t>(), v[1].get<int64_t>()};
}

/// A Keras regularizer config ({"class_name": "L2", "config": {"l2": 0.01}}) through the
/// builder's regularizers:: functions.
inline std::optional<Regularizer> regularizer(const json &c, const char *key) {
  if (!c.contains(key) || c[key].is_null())
    return std::nullopt;
  std::string cls = c[key].at("class_name");
  const json &rc = c[key].at("config");
  if (cls == "L1")
    return regularizers::L1(rc.at("l1"));
  if (cls == "L2")
    return regularizers::L2(rc.at("l2"));
  return regularizers::L1L2(rc.value("l1", 0.0), rc.value("l2", 0.0));
}

/// A kiln layer from a Keras layer config.
inline Layer makeLayer(const std::string &cls, const json &c) {
  std::string name = c.at("name");
  std::string act = c.value("activation", "linear");
  if (cls == "Dense")
    return layers::Dense(c.at("units"),
                         {.activation = act,
                          .use_bias = c.value("use_bias", true),
                          .kernel_regularizer = regularizer(c, "kernel_regularizer"),
                          .bias_regularizer = regularizer(c, "bias_regularizer"),
                          .activity_regularizer = regularizer(c, "activity_regularizer"),
                          .name = name});
  if (cls == "Conv2D")
    return layers::Conv2D(c.at("filters"), pair(c.at("kernel_size")),
                          {.strides = pair(c.at("strides")),
                           .padding = c.at("padding"),
                           .dilation_rate = pair(c.value("dilation_rate", json::array({1, 1}))),
                           .groups = c.value("groups", 1),
                           .activation = act,
                           .use_bias = c.value("use_bias", true),
                           .kernel_regularizer = regularizer(c, "kernel_regularizer"),
                           .bias_regularizer = regularizer(c, "bias_regularizer"),
                           .activity_regularizer = regularizer(c, "activity_regularizer"),
                           .name = name});
  if (cls == "Conv3D" || cls == "MaxPooling3D" || cls == "AveragePooling3D") {
    auto triple = [&](const char *key) {
      const json &v = c.at(key);
      return std::array<int64_t, 3>{v[0].get<int64_t>(), v[1].get<int64_t>(),
                                    v[2].get<int64_t>()};
    };
    if (cls == "Conv3D")
      return layers::Conv3D(c.at("filters"), triple("kernel_size"),
                            {.strides = triple("strides"),
                             .padding = c.at("padding"),
                             .dilation_rate = triple("dilation_rate"),
                             .activation = act,
                             .use_bias = c.value("use_bias", true),
                             .name = name});
    auto s = triple("strides");
    layers::Pooling3DOptions o{.strides = {s[0], s[1], s[2]}, .padding = c.at("padding"),
                               .name = name};
    if (cls == "MaxPooling3D")
      return layers::MaxPooling3D(triple("pool_size"), o);
    return layers::AveragePooling3D(triple("pool_size"), o);
  }
  if (cls == "MaxPooling2D" || cls == "AveragePooling2D") {
    auto s = pair(c.at("strides"));
    layers::Pooling2DOptions o{.strides = {s[0], s[1]}, .padding = c.at("padding"), .name = name};
    if (cls == "MaxPooling2D")
      return layers::MaxPooling2D(pair(c.at("pool_size")), o);
    return layers::AveragePooling2D(pair(c.at("pool_size")), o);
  }
  if (cls == "Flatten")
    return layers::Flatten({.name = name});
  if (cls == "Activation")
    return layers::Activation(act, {.name = name});
  if (cls == "ReLU") {
    layers::ReLUOptions o{.negative_slope = c.value("negative_slope", 0.0),
                          .threshold = c.value("threshold", 0.0),
                          .name = name};
    if (c.contains("max_value") && !c["max_value"].is_null())
      o.max_value = c["max_value"].get<double>();
    return layers::ReLU(o);
  }
  if (cls == "BatchNormalization")
    return layers::BatchNormalization({.axis = c.value("axis", -1),
                                       .momentum = c.value("momentum", 0.99),
                                       .epsilon = c.value("epsilon", 1e-3),
                                       .center = c.value("center", true),
                                       .scale = c.value("scale", true),
                                       .name = name});
  if (cls == "Concatenate")
    return layers::Concatenate({.axis = c.value("axis", -1), .name = name});
  if (cls == "Add")
    return layers::Add({.name = name});
  if (cls == "Dropout")
    return layers::Dropout(c.at("rate"), {.name = name});
  if (cls == "Multiply")
    return layers::Multiply({.name = name});
  if (cls == "Subtract")
    return layers::Subtract({.name = name});
  if (cls == "Average")
    return layers::Average({.name = name});
  if (cls == "Maximum")
    return layers::Maximum({.name = name});
  if (cls == "Minimum")
    return layers::Minimum({.name = name});
  if (cls.starts_with("Global")) {
    layers::GlobalPoolingOptions o{.keepdims = c.value("keepdims", false), .name = name};
    if (cls == "GlobalAveragePooling2D")
      return layers::GlobalAveragePooling2D(o);
    if (cls == "GlobalMaxPooling2D")
      return layers::GlobalMaxPooling2D(o);
    if (cls == "GlobalAveragePooling1D")
      return layers::GlobalAveragePooling1D(o);
    return layers::GlobalMaxPooling1D(o);
  }
  if (cls == "LayerNormalization") {
    const json &a = c.at("axis");
    return layers::LayerNormalization(
        {.axis = a.is_array() ? a.get<std::vector<int64_t>>()
                              : std::vector<int64_t>{a.get<int64_t>()},
         .epsilon = c.at("epsilon"),
         .center = c.at("center"),
         .scale = c.at("scale"),
         .name = name});
  }
  if (cls == "ZeroPadding2D" || cls == "Cropping2D") {
    const json &p = c.at(cls == "ZeroPadding2D" ? "padding" : "cropping");
    layers::Sides2D sides({p[0][0].get<int64_t>(), p[0][1].get<int64_t>()},
                          {p[1][0].get<int64_t>(), p[1][1].get<int64_t>()});
    if (cls == "ZeroPadding2D")
      return layers::ZeroPadding2D(sides, {.name = name});
    return layers::Cropping2D(sides, {.name = name});
  }
  if (cls == "UpSampling2D")
    return layers::UpSampling2D(pair(c.at("size")), {.name = name});
  if (cls == "Permute")
    return layers::Permute(c.at("dims").get<std::vector<int64_t>>(), {.name = name});
  if (cls == "RepeatVector")
    return layers::RepeatVector(c.at("n"), {.name = name});
  if (cls == "Reshape")
    return layers::Reshape(c.at("target_shape").get<std::vector<int64_t>>(), {.name = name});
  // The convolution family (issue 6) through the builder.
  auto one = [](const json &v) { return v.is_array() ? v[0].get<int64_t>() : v.get<int64_t>(); };
  if (cls == "Conv1D")
    return layers::Conv1D(c.at("filters"), one(c.at("kernel_size")),
                          {.strides = one(c.at("strides")),
                           .padding = c.at("padding"),
                           .dilation_rate = one(c.value("dilation_rate", json(1))),
                           .groups = c.value("groups", 1),
                           .activation = act,
                           .name = name});
  if (cls == "MaxPooling1D" || cls == "AveragePooling1D") {
    layers::Pooling1DOptions o{.strides = one(c.at("strides")), .padding = c.at("padding"),
                               .name = name};
    if (cls == "MaxPooling1D")
      return layers::MaxPooling1D(one(c.at("pool_size")), o);
    return layers::AveragePooling1D(one(c.at("pool_size")), o);
  }
  if (cls == "DepthwiseConv2D")
    return layers::DepthwiseConv2D(
        pair(c.at("kernel_size")),
        {.strides = pair(c.at("strides")),
         .padding = c.at("padding"),
         .depth_multiplier = c.at("depth_multiplier"),
         .dilation_rate = pair(c.value("dilation_rate", json::array({1, 1}))),
         .activation = act,
         .use_bias = c.value("use_bias", true),
         .name = name});
  if (cls == "SeparableConv2D")
    return layers::SeparableConv2D(
        c.at("filters"), pair(c.at("kernel_size")),
        {.strides = pair(c.at("strides")),
         .padding = c.at("padding"),
         .dilation_rate = pair(c.value("dilation_rate", json::array({1, 1}))),
         .depth_multiplier = c.at("depth_multiplier"),
         .activation = act,
         .name = name});
  if (cls == "Conv2DTranspose")
    return layers::Conv2DTranspose(c.at("filters"), pair(c.at("kernel_size")),
                                   {.strides = pair(c.at("strides")),
                                    .padding = c.at("padding"),
                                    .dilation_rate = pair(c.value("dilation_rate",
                                                                  json::array({1, 1}))),
                                    .activation = act,
                                    .name = name});
  if (cls == "Dot") {
    const json &a = c.at("axes");
    std::array<int64_t, 2> axes = a.is_array()
                                      ? std::array<int64_t, 2>{a[0].get<int64_t>(), a[1].get<int64_t>()}
                                      : std::array<int64_t, 2>{a.get<int64_t>(), a.get<int64_t>()};
    return layers::Dot(axes, {.normalize = c.value("normalize", false), .name = name});
  }
  if (cls == "Embedding")
    return layers::Embedding(c.at("input_dim"), c.at("output_dim"),
                             {.mask_zero = c.value("mask_zero", false), .name = name});
  if (cls == "Masking")
    return layers::Masking(c.value("mask_value", 0.0), {name});
  if (cls == "SimpleRNN" || cls == "LSTM" || cls == "GRU") {
    layers::RecurrentOptions o{.activation = act,
                               .recurrent_activation = c.value("recurrent_activation", "sigmoid"),
                               .use_bias = c.value("use_bias", true),
                               .return_sequences = c.value("return_sequences", false),
                               .return_state = c.value("return_state", false),
                               .go_backwards = c.value("go_backwards", false),
                               .reset_after = c.value("reset_after", true),
                               .name = name};
    if (cls == "SimpleRNN")
      return layers::SimpleRNN(c.at("units"), o);
    if (cls == "LSTM")
      return layers::LSTM(c.at("units"), o);
    return layers::GRU(c.at("units"), o);
  }
  if (cls == "TimeDistributed")
    return layers::TimeDistributed(
        makeLayer(c.at("layer").at("class_name"), c.at("layer").at("config")), {.name = name});
  if (cls == "Bidirectional")
    return layers::Bidirectional(
        makeLayer(c.at("layer").at("class_name"), c.at("layer").at("config")),
        {.merge_mode = c.value("merge_mode", "concat"), .name = name});
  throw std::runtime_error("golden test: no builder for layer class " + cls);
}

/// A keras.applications model from a case's "application" entry:
/// {"builder": "VGG16" | "ResNet50" | "MobileNet", "options": {include_top, input_shape,
/// pooling, classes, classifier_activation, alpha, depth_multiplier, dropout}}.
inline Model buildApplication(const json &spec) {
  const json &o = spec.at("options");
  applications::ApplicationOptions a;
  a.include_top = o.value("include_top", true);
  if (o.contains("input_shape"))
    a.input_shape = o["input_shape"].get<std::vector<int64_t>>();
  a.pooling = o.value("pooling", "");
  a.classes = o.value("classes", int64_t(1000));
  a.classifier_activation = o.value("classifier_activation", "softmax");
  std::string b = spec.at("builder");
  if (b == "VGG16")
    return applications::VGG16(a);
  if (b == "ResNet50")
    return applications::ResNet50(a);
  if (b == "MobileNet")
    return applications::MobileNet(a, {.alpha = o.value("alpha", 1.0),
                                       .depth_multiplier = o.value("depth_multiplier", int64_t(1)),
                                       .dropout = o.value("dropout", 1e-3)});
  throw std::runtime_error("golden test: unknown application " + b);
}

/// case.json's "weights_formula" (kiln-golden-hash-v1, defined in test/golden/make_golden.py):
/// every weight from a hash of its Keras name ("conv1/kernel") and element index, so that
/// large models need no weight files. Element i of weight `n` with shape S:
///   h = splitmix64(fnv1a64(n) ^ seed + i);  s = ((h >> 40) * 2 + 1) / 2^24 - 1  (in (-1, 1))
///   kernel / pointwise_kernel: s * sqrt(6 / prod(S[:-1])); depthwise_kernel:
///   s * sqrt(6 / (S[0] * S[1])); bias, beta, moving_mean: 0.1 * s; gamma: 1 + 0.25 * s;
///   moving_variance: 1 + 0.5 * s; computed in double, rounded to float.
inline Array formulaWeight(const std::string &name, const std::vector<int64_t> &shape,
                           uint64_t seed) {
  uint64_t key = 1469598103934665603ull;
  for (char ch : name)
    key = (key ^ static_cast<unsigned char>(ch)) * 1099511628211ull;
  key ^= seed;
  std::string kind = name.substr(name.rfind('/') + 1);
  Array a(shape);
  double scale = 0.1, offset = 0.0;
  if (kind == "kernel" || kind == "pointwise_kernel" || kind == "depthwise_kernel") {
    double fanIn = 1;
    if (kind == "depthwise_kernel")
      fanIn = double(shape.at(0)) * double(shape.at(1));
    else
      for (size_t i = 0; i + 1 < shape.size(); ++i)
        fanIn *= double(shape[i]);
    scale = std::sqrt(6.0 / fanIn);
  } else if (kind == "gamma") {
    scale = 0.25, offset = 1.0;
  } else if (kind == "moving_variance") {
    scale = 0.5, offset = 1.0;
  } else if (kind != "bias" && kind != "beta" && kind != "moving_mean") {
    throw std::runtime_error("golden test: no weights formula for " + name);
  }
  for (int64_t i = 0; i < a.size(); ++i) {
    uint64_t z = key + static_cast<uint64_t>(i) + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    double s = double((z >> 40) * 2 + 1) / 16777216.0 - 1.0;
    // Two roundings, as numpy does them (no fused multiply-add): product, then sum (exact).
    volatile double scaled = s * scale;
    a.data[i] = static_cast<float>(offset + scaled);
  }
  return a;
}

/// Sets every weight of `model` from case.json's "weights_formula".
inline void applyWeightsFormula(const json &formula, Model &model) {
  if (formula.at("name") != "kiln-golden-hash-v1")
    throw std::runtime_error("golden test: unknown weights formula " + formula.dump());
  uint64_t seed = formula.at("seed").get<uint64_t>();
  for (Layer &layer : model.layers()) {
    std::vector<std::string> names = layer.weight_names();
    if (names.empty())
      continue;
    std::vector<Array> w = layer.get_weights();
    for (size_t i = 0; i < w.size(); ++i) {
      std::string n = names[i].substr(0, names[i].rfind(':'));
      w[i] = formulaWeight(n, w[i].shape, seed);
    }
    layer.set_weights(w);
  }
}

/// The model of case.json `c` (layers with call_refs, model_inputs, model_output_refs), each
/// layer's weights set from the files listed under `weightsKey`. A case with an "application"
/// is built by kiln::applications instead, and one with a "weights_formula" gets its weights
/// from the formula.
inline Model buildModel(const json &c, const std::filesystem::path &dir, const std::string &name,
                        const char *weightsKey = "weights") {
  if (c.contains("application")) {
    Model model = buildApplication(c["application"]);
    if (c.contains("weights_formula"))
      applyWeightsFormula(c["weights_formula"], model);
    return model;
  }
  std::map<std::string, Tensor> inputs;
  std::map<std::string, std::vector<std::vector<Tensor>>> outputs; // per layer, call, tensor
  std::vector<std::pair<Layer, std::vector<Array>>> weights;
  for (const json &l : c.at("layers")) {
    std::string lname = l.at("name"), cls = l.at("class_name");
    const json &cfg = l.at("config");
    if (cls == "InputLayer") {
      json shape = cfg.contains("batch_input_shape") ? cfg["batch_input_shape"] : cfg["batch_shape"];
      std::vector<int64_t> s;
      for (size_t i = 1; i < shape.size(); ++i)
        s.push_back(shape[i]);
      Tensor t = Input(s, {.name = lname});
      inputs[lname] = t;
      outputs[lname] = {{t}};
      continue;
    }
    Layer layer = makeLayer(cls, cfg);
    layer.set_trainable(cfg.value("trainable", true));
    for (const json &call : l.at("call_refs")) {
      std::vector<Tensor> in;
      for (const json &ref : call)
        in.push_back(outputs.at(ref[0].get<std::string>())
                         .at(ref[1].get<size_t>())
                         .at(ref[2].get<size_t>()));
      outputs[lname].push_back(in.size() == 1 ? layer.call_all(in[0])
                                              : std::vector<Tensor>{layer(in)});
    }
    std::vector<Array> w;
    for (const json &f : l.at(weightsKey))
      w.push_back(loadNpy((dir / f.get<std::string>()).string()));
    weights.emplace_back(layer, std::move(w));
  }
  std::vector<Tensor> ins, outs;
  for (const json &n : c.at("model_inputs"))
    ins.push_back(inputs.at(n.get<std::string>()));
  for (const json &r : c.at("model_output_refs"))
    outs.push_back(
        outputs.at(r[0].get<std::string>()).at(r[1].get<size_t>()).at(r[2].get<size_t>()));
  Model model(ins, outs, {.name = name});
  for (auto &[layer, w] : weights)
    if (!w.empty() || !c.contains("weights_formula"))
      layer.set_weights(w);
  if (c.contains("weights_formula"))
    applyWeightsFormula(c["weights_formula"], model);
  return model;
}

/// Each layer's weights listed under `key`, in get_weights() order.
inline std::vector<Array> layerWeights(const json &c, const std::filesystem::path &dir,
                                       const char *key) {
  std::vector<Array> out;
  for (const json &l : c.at("layers"))
    if (l.contains(key))
      for (const json &f : l.at(key))
        out.push_back(loadNpy((dir / f.get<std::string>()).string()));
  return out;
}

} // namespace golden

#endif // KILN_TEST_E2E_GOLDENMODEL_H
