//===- GoldenTest.cpp - predict against the Keras oracle's golden outputs --===//
//
// Each test/golden/<case>/ (made by test/golden/make_golden.py with the Keras oracle) holds a
// Keras config, weights, inputs and the oracle's outputs. The model is rebuilt here with the C++
// builder API from the case's layer list, the weights are set in Keras' get_weights() order, and
// predict (compiled to native code in process) must match within the case's tolerance:
// |kiln - keras| <= atol * max(1, max|y|).
//
//===----------------------------------------------------------------------===//
#include "GoldenModel.h"
#include "kiln/Datasets.h"
#include "kiln/Npy.h"
#include "kiln/kiln.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

using namespace kiln;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

const fs::path kGoldenDir = KILN_GOLDEN_DIR;

struct Case {
  Model model;
  std::vector<Array> xs, ys;
  double atol;
};

Case load(const std::string &caseName) {
  fs::path dir = kGoldenDir / caseName;
  json c = json::parse(std::ifstream(dir / "case.json"));
  Model model = golden::buildModel(c, dir, caseName);
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

/// case.json's "kiln_skip": why kiln cannot run the case yet (the data stay for when it can).
std::optional<std::string> skipReason(const std::string &caseName) {
  json c = json::parse(std::ifstream(kGoldenDir / caseName / "case.json"));
  if (c.contains("kiln_skip"))
    return c["kiln_skip"].get<std::string>();
  return std::nullopt;
}

TEST_P(Golden, PredictMatchesKeras) {
  backend::clear_session();
  if (auto why = skipReason(GetParam()))
    GTEST_SKIP() << *why;
  if (GetParam().starts_with("seed_cnn") &&
      !fs::exists(datasets::fashion_mnist::defaultDir()))
    GTEST_SKIP() << "Fashion-MNIST is not installed (Debian package dataset-fashion-mnist)";
  Case c = load(GetParam());
  json cj = json::parse(std::ifstream(kGoldenDir / GetParam() / "case.json"));
  if (cj.contains("application")) {
    // The oracle ran the config kiln::applications writes: it must still be the committed one.
    json committed = json::parse(std::ifstream(kGoldenDir / GetParam() / "model.json"));
    EXPECT_EQ(json::parse(c.model.to_json(-1, /*keras2=*/true)), committed)
        << "kiln::applications' config changed; rerun test/golden/make_golden.py --only "
        << GetParam();
  }
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
    char diff[32];
    std::snprintf(diff, sizeof diff, "%.3g", worst);
    RecordProperty("max_abs_diff_" + std::to_string(o), diff);
  }
}

// The same case read from its Keras config (model.json, tf.keras 2.x layout) instead of built
// with the C++ API: the config reader must make the same model.
TEST_P(Golden, ConfigMatchesKeras) {
  backend::clear_session();
  if (auto why = skipReason(GetParam()))
    GTEST_SKIP() << *why;
  if (GetParam().starts_with("seed_cnn"))
    GTEST_SKIP() << "the seed CNN cases are checked through the builder (PredictMatchesKeras)";
  fs::path dir = kGoldenDir / GetParam();
  Case c = load(GetParam());
  std::ifstream in(dir / "model.json");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Model model = model_from_json(text);
  json cj = json::parse(std::ifstream(dir / "case.json"));
  for (const json &l : cj.at("layers")) {
    std::vector<Array> w;
    for (const json &f : l.at("weights"))
      w.push_back(loadNpy((dir / f.get<std::string>()).string()));
    if (!w.empty())
      model.get_layer(l.at("name").get<std::string>()).set_weights(w);
  }
  if (cj.contains("weights_formula"))
    golden::applyWeightsFormula(cj["weights_formula"], model);
  std::vector<Array> got = model.predict(c.xs, {.batch_size = 256});
  ASSERT_EQ(got.size(), c.ys.size());
  for (size_t o = 0; o < got.size(); ++o) {
    ASSERT_EQ(got[o].shape, c.ys[o].shape) << "output " << o;
    double scale = 1.0, worst = 0.0;
    for (float v : c.ys[o].data)
      scale = std::max(scale, std::fabs(double(v)));
    for (int64_t i = 0; i < c.ys[o].size(); ++i) {
      double d = std::fabs(double(got[o].data[i]) - c.ys[o].data[i]);
      if (!(d <= worst))
        worst = d;
    }
    EXPECT_LE(worst, c.atol * scale) << "output " << o;
    char diff[32];
    std::snprintf(diff, sizeof diff, "%.3g", worst);
    RecordProperty("max_abs_diff_" + std::to_string(o), diff);
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
