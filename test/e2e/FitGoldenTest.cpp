//===- FitGoldenTest.cpp - training trajectories against the Keras oracle --===//
//
// Each test/golden_fit/<case>/ (made by test/golden_fit/make_fit_golden.py with the Keras
// oracle) holds a model, its initial weights, data, the compile and fit settings, the loss of
// every batch (with the weights before that batch's update), the epoch logs and the final
// weights. kiln replays the same fit batch by batch (shuffle off) with train_on_batch, whose loss
// is that same quantity, then checks the epoch means and the final weights. Tolerances are the
// case's: |kiln - keras| <= rtol * max(1, |keras|) per loss, and atol * max(1, max|w|) per weight.
// KILN_TEST_DEVICE=gpu runs the same cases with compile({.device = "gpu"}) (ctest gpu_fit_golden).
//
//===----------------------------------------------------------------------===//
#include "GoldenModel.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>

namespace fs = std::filesystem;
using namespace kiln;
using json = nlohmann::json;

namespace {

const fs::path kDir = KILN_GOLDEN_FIT_DIR;

optimizers::Optimizer optimizerOf(const json &o) {
  optimizers::Optimizer opt(o.at("name").get<std::string>());
  opt.learning_rate = o.value("learning_rate", opt.learning_rate);
  opt.beta_1 = o.value("beta_1", opt.beta_1);
  opt.beta_2 = o.value("beta_2", opt.beta_2);
  opt.epsilon = o.value("epsilon", opt.epsilon);
  opt.amsgrad = o.value("amsgrad", opt.amsgrad);
  opt.momentum = o.value("momentum", opt.momentum);
  opt.nesterov = o.value("nesterov", opt.nesterov);
  opt.rho = o.value("rho", opt.rho);
  opt.centered = o.value("centered", opt.centered);
  opt.initial_accumulator_value =
      o.value("initial_accumulator_value", opt.initial_accumulator_value);
  return opt;
}

class FitGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(FitGolden, FollowsTheOracle) {
  backend::clear_session();
  fs::path dir = kDir / GetParam();
  json c = json::parse(std::ifstream(dir / "case.json"));
  Model model = golden::buildModel(c, dir, GetParam());
  const json &comp = c.at("compile");
  std::vector<std::string> metrics = comp.value("metrics", std::vector<std::string>{});
  model.compile({.optimizer = optimizerOf(comp.at("optimizer")),
                 .loss = comp.at("loss").get<std::string>(),
                 .metrics = metrics,
                 .device = std::getenv("KILN_TEST_DEVICE") ? std::getenv("KILN_TEST_DEVICE")
                                                           : "cpu"});
  Array x = loadNpy((dir / c.at("x").get<std::string>()).string());
  Array y = loadNpy((dir / c.at("y").get<std::string>()).string());
  double rtol = c.at("tolerance").at("loss_rtol"), atol = c.at("tolerance").at("weights_atol");
  int64_t batch = c.at("fit").at("batch_size"), epochs = c.at("fit").at("epochs");
  int64_t n = x.shape[0];
  std::vector<double> want = c.at("batch_losses");
  size_t k = 0;
  for (int64_t e = 0; e < epochs; ++e) {
    double sum = 0;
    for (int64_t b = 0; b < n; b += batch, ++k) {
      int64_t end = std::min(n, b + batch);
      double got = model.train_on_batch(x.rows(b, end), y.rows(b, end))[0];
      ASSERT_LT(k, want.size());
      EXPECT_NEAR(got, want[k], rtol * std::max(1.0, std::fabs(want[k])))
          << "epoch " << e + 1 << ", step " << k + 1;
      sum += got * double(end - b);
    }
    double epochLoss = c.at("epoch_logs").at("loss")[e];
    EXPECT_NEAR(sum / n, epochLoss, rtol * std::max(1.0, std::fabs(epochLoss)))
        << "epoch " << e + 1 << " loss";
  }
  EXPECT_EQ(k, want.size());
  std::vector<Array> got = model.get_weights();
  std::vector<Array> final = golden::layerWeights(c, dir, "final_weights");
  ASSERT_EQ(got.size(), final.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].shape, final[i].shape);
    double scale = 1, worst = 0;
    for (float v : final[i].data)
      scale = std::max(scale, std::fabs(double(v)));
    for (int64_t j = 0; j < got[i].size(); ++j)
      worst = std::max(worst, std::fabs(double(got[i].data[j]) - final[i].data[j]));
    EXPECT_LE(worst, atol * scale) << "final weight " << i << ": max |kiln - keras| " << worst;
  }
  // Metrics over the last epoch's data with the final weights agree with evaluate's.
  if (!metrics.empty()) {
    std::vector<double> ev = model.evaluate(x, y, {.batch_size = batch, .verbose = 0});
    EXPECT_EQ(ev.size(), 1 + metrics.size());
  }
}

/// Max |got - want| over each weight against atol * max(1, max|want|).
void expectWeightsNear(const std::vector<Array> &got, const std::vector<Array> &want,
                       double atol, const std::string &what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].shape, want[i].shape) << what;
    double scale = 1, worst = 0;
    for (float v : want[i].data)
      scale = std::max(scale, std::fabs(double(v)));
    for (int64_t j = 0; j < got[i].size(); ++j)
      worst = std::max(worst, std::fabs(double(got[i].data[j]) - want[i].data[j]));
    EXPECT_LE(worst, atol * scale) << what << ", weight " << i << ": max |kiln - keras| " << worst;
  }
}

// The same run through fit() (shuffle off): its epoch logs and final weights follow the oracle
// too. On the GPU fit keeps weights, slots and gradients on the device between steps; a
// callback that reads the weights after every batch makes it bring them back each time, so
// both ways are run: without callbacks, and with one that reads get_weights() at each batch's
// end (the last read must be the final weights) and sets them back unchanged at an epoch's end
// (the host copy is authoritative again after the callbacks).
TEST_P(FitGolden, FitLoopFollowsTheOracle) {
  fs::path dir = kDir / GetParam();
  json c = json::parse(std::ifstream(dir / "case.json"));
  const json &comp = c.at("compile");
  Array x = loadNpy((dir / c.at("x").get<std::string>()).string());
  Array y = loadNpy((dir / c.at("y").get<std::string>()).string());
  double rtol = c.at("tolerance").at("loss_rtol"), atol = c.at("tolerance").at("weights_atol");
  int64_t batch = c.at("fit").at("batch_size");
  int epochs = c.at("fit").at("epochs");
  std::vector<Array> final = golden::layerWeights(c, dir, "final_weights");
  for (bool withCallback : {false, true}) {
    SCOPED_TRACE(withCallback ? "fit with a per-batch callback" : "fit");
    backend::clear_session();
    Model model = golden::buildModel(c, dir, GetParam());
    model.compile({.optimizer = optimizerOf(comp.at("optimizer")),
                   .loss = comp.at("loss").get<std::string>(),
                   .metrics = comp.value("metrics", std::vector<std::string>{}),
                   .device = std::getenv("KILN_TEST_DEVICE") ? std::getenv("KILN_TEST_DEVICE")
                                                             : "cpu"});
    std::vector<Array> seen;
    FitOptions options{.batch_size = batch, .epochs = epochs, .verbose = 0, .shuffle = false};
    if (withCallback)
      options.callbacks.push_back(std::make_shared<callbacks::LambdaCallback>(
          callbacks::LambdaCallbackOptions{
              .on_epoch_end = [&](int, Logs &) { model.set_weights(model.get_weights()); },
              .on_train_batch_end = [&](int64_t, Logs &) { seen = model.get_weights(); }}));
    History h = model.fit(x, y, options);
    ASSERT_EQ(h.history.at("loss").size(), size_t(epochs));
    for (int e = 0; e < epochs; ++e) {
      double want = c.at("epoch_logs").at("loss")[e];
      EXPECT_NEAR(h.history.at("loss")[e], want, rtol * std::max(1.0, std::fabs(want)))
          << "epoch " << e + 1 << " loss";
    }
    expectWeightsNear(model.get_weights(), final, atol, "final weights");
    if (withCallback)
      expectWeightsNear(seen, final, atol, "weights read at the last batch's end");
  }
}

std::vector<std::string> cases() {
  std::vector<std::string> names;
  for (const auto &e : fs::directory_iterator(kDir))
    if (fs::exists(e.path() / "case.json"))
      names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

INSTANTIATE_TEST_SUITE_P(Oracle, FitGolden, ::testing::ValuesIn(cases()),
                         [](const auto &info) { return info.param; });

} // namespace
