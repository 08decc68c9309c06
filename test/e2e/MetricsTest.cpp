//===- MetricsTest.cpp - AUC and MeanIoU against Keras' formulas -----------===//
//
// The model is the identity (Dense with kernel 1 and bias 0), so evaluate's metrics see the
// inputs as predictions. The expected AUCs come from test/e2e/auc_reference.py, a numpy
// transcription of keras/src/metrics/confusion_metrics.py (AUC.result, interpolate_pr_auc) with
// Keras' thresholds [-1e-7, (i + 1) / (n - 1) for i < n - 2, 1 + 1e-7] and its rule that a
// prediction is positive at a threshold when it is strictly above it. The MeanIoU cases are
// worked by hand in the comments.
//
//===----------------------------------------------------------------------===//
#include "kiln/kiln.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <unistd.h>

using namespace kiln;
using namespace kiln::layers;

namespace {

/// A model whose predictions are its inputs: Dense(units) with an identity kernel.
Model identity(int64_t units, std::vector<metrics::Metric> ms,
               losses::Loss loss = "mse") {
  backend::clear_session();
  Tensor in = Input({units});
  Model m(in, Dense(units)(in));
  Array k({units, units}), b({units});
  for (int64_t i = 0; i < units; ++i)
    k.data[i * units + i] = 1.0f;
  m.set_weights({k, b});
  m.compile({.optimizer = "sgd", .loss = loss, .metrics = std::move(ms)});
  return m;
}

Array column(std::vector<float> v) {
  Array a({int64_t(v.size()), 1});
  a.data = std::move(v);
  return a;
}

/// evaluate's value of the metric after the loss.
double metric(Model &m, const Array &x, const Array &y, int64_t batch = 32) {
  return m.evaluate(x, y, {.batch_size = batch})[1];
}

TEST(AUC, KerasDocExample) {
  // Keras' docstring: thresholds [-1e-7, 0.5, 1 + 1e-7], tp = [2, 1, 0], fp = [2, 0, 0];
  // ROC = (1 + 0.5) / 2 * (1 - 0) = 0.75.
  Model m = identity(1, {metrics::AUC({.num_thresholds = 3})});
  Array x = column({0, 0.5f, 0.3f, 0.9f}), y = column({0, 0, 1, 1});
  EXPECT_NEAR(metric(m, x, y), 0.75, 1e-12);
  // Accumulated over batches: the same counts, the same area.
  EXPECT_NEAR(metric(m, x, y, 1), 0.75, 1e-12);
  EXPECT_EQ(m.metrics_names(), (std::vector<std::string>{"loss", "auc"}));
}

TEST(AUC, CurvesAndSummationMethods) {
  Array x = column({0.1f, 0.35f, 0.4f, 0.8f, 0.62f, 0.7f, 0.2f, 0.05f});
  Array y = column({0, 1, 0, 1, 1, 0, 1, 0});
  struct Case {
    int64_t n;
    const char *curve, *method;
    double want; // auc_reference.py
  } cases[] = {
      {5, "ROC", "interpolation", 0.6875},
      {5, "ROC", "minoring", 0.5625},
      {5, "ROC", "majoring", 0.8125},
      {5, "PR", "interpolation", 0.736145828332213},
      {5, "PR", "minoring", 0.44166666666666665},
      {5, "PR", "majoring", 0.8166666666666667},
      {200, "ROC", "interpolation", 0.6875},
      {200, "PR", "interpolation", 0.6959011689188768},
      {200, "PR", "minoring", 0.4},
      {200, "PR", "majoring", 0.7333333333333333},
  };
  // One model with every variant (one compile), in batches of 3.
  std::vector<metrics::Metric> ms;
  for (const Case &c : cases)
    ms.push_back(metrics::AUC({.num_thresholds = c.n, .curve = c.curve,
                               .summation_method = c.method,
                               .name = "auc_" + std::to_string(ms.size())}));
  Model m = identity(1, ms);
  std::vector<double> got = m.evaluate(x, y, {.batch_size = 3});
  ASSERT_EQ(got.size(), std::size(cases) + 1);
  for (size_t i = 0; i < std::size(cases); ++i)
    EXPECT_NEAR(got[i + 1], cases[i].want, 1e-9)
        << cases[i].n << " " << cases[i].curve << " " << cases[i].method;
}

TEST(AUC, MultiLabelFromLogitsAndByName) {
  Array x({4, 2}, {0.2f, 0.9f, 0.7f, 0.6f, 0.4f, 0.3f, 0.6f, 0.65f});
  Array y({4, 2}, {0, 1, 1, 1, 0, 0, 1, 0});
  // Label 0 separates perfectly (1.0); label 1 gives 0.875: the mean is 0.9375. Flattened into
  // one label, the 8 pairs give 0.90625.
  Model multi = identity(2, {metrics::AUC({.num_thresholds = 5, .multi_label = true})});
  EXPECT_NEAR(metric(multi, x, y), 0.9375, 1e-9);
  Model flat = identity(2, {metrics::AUC({.num_thresholds = 5})});
  EXPECT_NEAR(metric(flat, x, y), 0.90625, 1e-9);

  // Logits -2, 0.5, 1, -0.3, 3 through a sigmoid: 0.75 (without it: 0.1667).
  Array logits = column({-2, 0.5f, 1, -0.3f, 3}), yl = column({0, 1, 0, 1, 1});
  Model fromLogits = identity(1, {metrics::AUC({.num_thresholds = 5, .from_logits = true})});
  EXPECT_NEAR(metric(fromLogits, logits, yl), 0.75, 1e-9);

  // By name, as Keras' compile(metrics=["AUC"]): AUC() with its defaults, logged as "auc".
  Model named = identity(1, {"AUC"});
  EXPECT_EQ(named.metrics_names(), (std::vector<std::string>{"loss", "auc"}));
  EXPECT_NEAR(metric(named, column({0.1f, 0.35f, 0.4f, 0.8f, 0.62f, 0.7f, 0.2f, 0.05f}),
                     column({0, 1, 0, 1, 1, 0, 1, 0})),
              0.6875, 1e-9);
  EXPECT_EQ(identity(1, {"auc"}).metrics_names()[1], "auc");

  EXPECT_THROW(metrics::AUC({.num_thresholds = 1}), Error);
  EXPECT_THROW(metrics::AUC({.curve = "PRGAIN"}), Error);
  EXPECT_THROW(metrics::AUC({.summation_method = "trapezoidal"}), Error);
}

TEST(MeanIoU, ConfusionMatrixOverBatches) {
  // Keras' docstring: targets [0, 0, 1, 1], predictions [0, 1, 0, 1]: cm = [[1, 1], [1, 1]],
  // IoU 1 / (2 + 2 - 1) per class, mean 1/3.
  Model doc = identity(1, {metrics::MeanIoU(2)});
  EXPECT_NEAR(metric(doc, column({0, 1, 0, 1}), column({0, 0, 1, 1})), 1.0 / 3, 1e-6);

  // Targets [0, 0, 1, 2, 2, 2], predictions [0, 1, 1, 2, 2, 0] (rows: target):
  //   cm = [[1, 1, 0], [0, 1, 0], [1, 0, 2]]; tp = [1, 1, 2]; rows [2, 1, 3]; cols [2, 2, 2];
  //   IoU = [1/3, 1/2, 2/3], mean 0.5. Keras' epsilons (1e-7 in both divisions) move it by ~1e-7.
  Array p = column({0, 1, 1, 2, 2, 0}), t = column({0, 0, 1, 2, 2, 2});
  Model three = identity(1, {metrics::MeanIoU(3)});
  EXPECT_NEAR(metric(three, p, t, 4), 0.5, 1e-6);
  // A class that never occurs has a zero denominator and stays out of the mean.
  Model four = identity(1, {metrics::MeanIoU(4)});
  EXPECT_NEAR(metric(four, p, t), 0.5, 1e-6);
  // ignore_class 0 drops the two samples whose target is 0: cm = [[0, 0, 0], [0, 1, 0],
  // [1, 0, 2]]; IoU = [0 / 1, 1 / 1, 2 / 3]: mean 5/9.
  Model ignore = identity(1, {metrics::MeanIoU(3, {.ignore_class = 0})});
  EXPECT_NEAR(metric(ignore, p, t), 5.0 / 9, 1e-6);
  // Predictions cast toward zero as Keras casts them: 1.9 is class 1.
  EXPECT_NEAR(metric(three, column({0, 1.9f, 1, 2, 2.5f, 0}), t), 0.5, 1e-6);
  EXPECT_EQ(three.metrics_names()[1], "mean_io_u");
  try {
    metric(three, column({0, 1, 3, 2, 2, 0}), t);
    FAIL() << "no error";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("MeanIoU: predicted class 3 is not in [0, 3)"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(metrics::MeanIoU(1), Error);
}

TEST(MeanIoU, DenseScoresTakeTheArgmax) {
  // Scores per row; argmax = [0, 1, 1, 2, 2, 0] against targets [0, 0, 1, 2, 2, 2]: 0.5 as above.
  Array scores({6, 3}, {5, 1, 0, 0, 2, 1, 0, 3, 1, 1, 0, 4, 0, 1, 2, 3, 2, 1});
  Model m = identity(3, {metrics::MeanIoU(3, {.sparse_y_pred = false})},
                     losses::SparseCategoricalCrossentropy(true));
  EXPECT_NEAR(metric(m, scores, Array({6}, {0, 0, 1, 2, 2, 2})), 0.5, 1e-6);
}

TEST(MetricObjects, SurviveSavingTheTrainingConfig) {
  Model m = identity(1, {metrics::AUC({.num_thresholds = 5, .curve = "PR"}),
                         metrics::MeanIoU(3, {.ignore_class = 0})});
  std::string path = testing::TempDir() + "/kiln-metrics-" + std::to_string(getpid()) + ".h5";
  m.save(path);
  Model back = load_model(path);
  EXPECT_EQ(back.metrics_names(), (std::vector<std::string>{"loss", "auc", "mean_io_u"}));
  Array x = column({0.1f, 0.35f, 0.4f, 0.8f, 0.62f, 0.7f, 0.2f, 0.05f});
  Array y = column({0, 1, 0, 1, 1, 0, 1, 0});
  std::vector<double> a = m.evaluate(x, y), b = back.evaluate(x, y);
  EXPECT_NEAR(b[1], 0.736145828332213, 1e-9); // PR interpolation, 5 thresholds
  EXPECT_DOUBLE_EQ(a[2], b[2]);
  std::remove(path.c_str());
}

} // namespace
