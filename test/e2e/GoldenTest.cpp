//===- GoldenTest.cpp - predict against the Keras oracle's golden outputs --===//
//
// Each test/golden/<case>/ (made by test/golden/make_golden.py with the Keras oracle) holds a
// Keras config, weights, inputs and the oracle's outputs. The model is rebuilt here with the C++
// builder API from the case's layer list, the weights are set in Keras' get_weights() order, and
// predict (compiled to native code in process) must match within the case's tolerance:
// |kiln - keras| <= atol * max(1, max|y|).
//
//===----------------------------------------------------------------------===//
#include "kiln/Datasets.h"
#include "kiln/Npy.h"
#include "kiln/kiln.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

using namespace kiln;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

const fs::path kGoldenDir = KILN_GOLDEN_DIR;

std::array<int64_t, 2> pair(const json &v) {
  if (v.is_number())
    return {v.get<int64_t>(), v.get<int64_t>()};
  return {v[0].get<int64_t>(), v[1].get<int64_t>()};
}

/// A kiln layer from a Keras layer config.
Layer makeLayer(const std::string &cls, const json &c) {
  std::string name = c.at("name");
  std::string act = c.value("activation", "linear");
  if (cls == "Dense")
    return layers::Dense(c.at("units"),
                         {.activation = act, .use_bias = c.value("use_bias", true), .name = name});
  if (cls == "Conv2D")
    return layers::Conv2D(c.at("filters"), pair(c.at("kernel_size")),
                          {.strides = pair(c.at("strides")),
                           .padding = c.at("padding"),
                           .dilation_rate = pair(c.value("dilation_rate", json::array({1, 1}))),
                           .activation = act,
                           .use_bias = c.value("use_bias", true),
                           .name = name});
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
  if (cls == "Concatenate")
    return layers::Concatenate({.axis = c.value("axis", -1), .name = name});
  if (cls == "Add")
    return layers::Add({.name = name});
  if (cls == "Dropout")
    return layers::Dropout(c.at("rate"), {.name = name});
  throw std::runtime_error("golden test: no builder for layer class " + cls);
}

struct Case {
  Model model;
  std::vector<Array> xs, ys;
  double atol;
};

Case load(const std::string &caseName) {
  fs::path dir = kGoldenDir / caseName;
  json c = json::parse(std::ifstream(dir / "case.json"));
  std::map<std::string, Tensor> inputs;
  std::map<std::string, std::vector<Tensor>> outputs; // per layer, per call
  std::vector<std::pair<Layer, std::vector<Array>>> weights;
  for (const json &l : c.at("layers")) {
    std::string name = l.at("name"), cls = l.at("class_name");
    const json &cfg = l.at("config");
    if (cls == "InputLayer") {
      json shape = cfg.contains("batch_input_shape") ? cfg["batch_input_shape"] : cfg["batch_shape"];
      std::vector<int64_t> s;
      for (size_t i = 1; i < shape.size(); ++i)
        s.push_back(shape[i]);
      Tensor t = Input(s, {.name = name});
      inputs[name] = t;
      outputs[name] = {t};
      continue;
    }
    Layer layer = makeLayer(cls, cfg);
    for (const json &call : l.at("call_refs")) {
      std::vector<Tensor> in;
      for (const json &ref : call)
        in.push_back(outputs.at(ref[0].get<std::string>()).at(ref[1].get<size_t>()));
      outputs[name].push_back(in.size() == 1 ? layer(in[0]) : layer(in));
    }
    std::vector<Array> w;
    for (const json &f : l.at("weights"))
      w.push_back(loadNpy((dir / f.get<std::string>()).string()));
    weights.emplace_back(layer, std::move(w));
  }
  std::vector<Tensor> ins, outs;
  for (const json &n : c.at("model_inputs"))
    ins.push_back(inputs.at(n.get<std::string>()));
  for (const json &r : c.at("model_output_refs"))
    outs.push_back(outputs.at(r[0].get<std::string>()).at(r[1].get<size_t>()));
  Model model(ins, outs, {.name = caseName});
  for (auto &[layer, w] : weights)
    layer.set_weights(w);

  Case result{model, {}, {}, c.at("tolerance").at("atol").get<double>()};
  for (const json &in : c.at("inputs")) {
    if (in.contains("file")) {
      result.xs.push_back(loadNpy((dir / in["file"].get<std::string>()).string()));
    } else {
      const json &src = in.at("x_source");
      EXPECT_EQ(src.at("dataset"), "fashion_mnist_test");
      Array x = datasets::fashion_mnist::load_test_data().x_test;
      result.xs.push_back(x.rows(0, src.at("count").get<int64_t>()));
    }
  }
  for (const json &out : c.at("outputs"))
    result.ys.push_back(loadNpy((dir / out.get<std::string>()).string()));
  return result;
}

class Golden : public ::testing::TestWithParam<std::string> {};

TEST_P(Golden, PredictMatchesKeras) {
  backend::clear_session();
  if (GetParam().starts_with("seed_cnn") &&
      !fs::exists(datasets::fashion_mnist::defaultDir()))
    GTEST_SKIP() << "Fashion-MNIST is not installed (Debian package dataset-fashion-mnist)";
  Case c = load(GetParam());
  std::vector<Array> got = c.model.predict(c.xs, {.batch_size = 256});
  ASSERT_EQ(got.size(), c.ys.size());
  for (size_t o = 0; o < got.size(); ++o) {
    const Array &y = c.ys[o];
    ASSERT_EQ(got[o].shape, y.shape) << "output " << o;
    double scale = 1.0, worst = 0.0;
    for (float v : y.data)
      scale = std::max(scale, std::fabs(double(v)));
    int64_t worstAt = 0;
    for (int64_t i = 0; i < y.size(); ++i) {
      double d = std::fabs(double(got[o].data[i]) - y.data[i]);
      if (!(d <= worst)) { // NaN counts as worst
        worst = d;
        worstAt = i;
      }
    }
    EXPECT_LE(worst, c.atol * scale)
        << "output " << o << ": max |kiln - keras| = " << worst << " at flat index " << worstAt
        << " (kiln " << got[o].data[worstAt] << ", keras " << y.data[worstAt] << ")";
    RecordProperty("max_abs_diff_" + std::to_string(o), std::to_string(worst));
  }
}

std::vector<std::string> cases() {
  std::vector<std::string> names;
  for (const auto &e : fs::directory_iterator(kGoldenDir))
    if (fs::exists(e.path() / "case.json"))
      names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

INSTANTIATE_TEST_SUITE_P(Oracle, Golden, ::testing::ValuesIn(cases()),
                         [](const auto &info) { return info.param; });

} // namespace
