//===- FitLoopTest.cpp - fit's callback path: NaN, hook order, loggers, Sequence -===//
//
// What fit / evaluate / predict do with their callbacks, as Keras 3's loops do: the order of
// every hook for a fit with validation, a non-finite loss through TerminateOnNaN or fit's
// built-in error, the ProgbarLogger and BaseLogger classes and their printed output, and fit
// over a utils::Sequence against the same batches as arrays.
//
//===----------------------------------------------------------------------===//
#include "kiln/Sequence.h"
#include "kiln/kiln.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <regex>
#include <string>
#include <vector>

using namespace kiln;
using namespace kiln::layers;
using namespace kiln::callbacks;

namespace {

class FitLoop : public ::testing::Test {
protected:
  void SetUp() override {
    backend::clear_session();
    utils::set_random_seed(1234);
  }
};

Model smallModel(optimizers::Optimizer opt = optimizers::SGD(0.05)) {
  Tensor in = Input({3});
  Model m(in, Dense(1)(Dense(4, {.activation = "tanh"})(in)));
  m.compile({.optimizer = opt, .loss = "mse"});
  return m;
}

Array data(int64_t rows, int64_t cols, float scale) {
  Array a({rows, cols});
  for (int64_t i = 0; i < a.size(); ++i)
    a.data[i] = scale * std::sin(0.37f * float(i) + 0.1f);
  return a;
}

bool allFinite(const Model &m) {
  for (const Array &w : m.get_weights())
    for (float v : w.data)
      if (!std::isfinite(v))
        return false;
  return true;
}

/// Records each hook as "name index" (or "name"), with the logs' keys where asked.
class Recorder : public Callback {
public:
  std::vector<std::string> calls;
  std::vector<Logs> trainBatchEnd, testEnd, epochEnd;
  void on_train_begin(Logs &) override { calls.push_back("train_begin"); }
  void on_train_end(Logs &) override { calls.push_back("train_end"); }
  void on_epoch_begin(int e, Logs &) override { calls.push_back("epoch_begin " + std::to_string(e)); }
  void on_epoch_end(int e, Logs &l) override {
    calls.push_back("epoch_end " + std::to_string(e));
    epochEnd.push_back(l);
  }
  void on_train_batch_begin(int64_t b, Logs &) override {
    calls.push_back("train_batch_begin " + std::to_string(b));
  }
  void on_train_batch_end(int64_t b, Logs &l) override {
    calls.push_back("train_batch_end " + std::to_string(b));
    trainBatchEnd.push_back(l);
  }
  void on_test_begin(Logs &) override { calls.push_back("test_begin"); }
  void on_test_end(Logs &l) override {
    calls.push_back("test_end");
    testEnd.push_back(l);
  }
  void on_test_batch_begin(int64_t b, Logs &) override {
    calls.push_back("test_batch_begin " + std::to_string(b));
  }
  void on_test_batch_end(int64_t b, Logs &) override {
    calls.push_back("test_batch_end " + std::to_string(b));
  }
  void on_predict_begin(Logs &) override { calls.push_back("predict_begin"); }
  void on_predict_end(Logs &) override { calls.push_back("predict_end"); }
  void on_predict_batch_begin(int64_t b, Logs &) override {
    calls.push_back("predict_batch_begin " + std::to_string(b));
  }
  void on_predict_batch_end(int64_t b, Logs &) override {
    calls.push_back("predict_batch_end " + std::to_string(b));
  }
};

/// Reads back what a logger wrote to a temporary stream.
std::string readBack(std::FILE *f) {
  std::fflush(f);
  std::rewind(f);
  std::string s;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0)
    s.append(buf, n);
  std::fclose(f);
  return s;
}

//===----------------------------------------------------------------------===//
// A non-finite loss
//===----------------------------------------------------------------------===//

TEST_F(FitLoop, TerminateOnNaNStopsFitAndReturnsTheHistory) {
  Model m = smallModel();
  Array x = data(8, 3, 1), y = data(8, 1, 0.5);
  x.data[5 * 3] = std::nanf(""); // sample 5: batch 2 (0-based) of 4 without shuffling
  auto rec = std::make_shared<Recorder>();
  testing::internal::CaptureStdout();
  History h = m.fit(x, y, {.batch_size = 2, .epochs = 3, .verbose = 0, .shuffle = false,
                           .callbacks = {rec, std::make_shared<TerminateOnNaN>()}});
  std::string out = testing::internal::GetCapturedStdout();
  EXPECT_EQ(out, "Batch 2: Invalid loss, terminating training\n");
  // The batch's logs reached the callbacks; fit stopped after that batch and ended the epoch
  // and the training normally, as Keras' loop does.
  ASSERT_EQ(rec->trainBatchEnd.size(), 3u);
  EXPECT_TRUE(std::isnan(rec->trainBatchEnd[2].at("loss")));
  EXPECT_EQ(rec->calls.back(), "train_end");
  EXPECT_EQ(rec->calls[rec->calls.size() - 2], "epoch_end 0");
  ASSERT_EQ(h.epoch, std::vector<int>{0});
  EXPECT_TRUE(std::isnan(h.history.at("loss")[0]));
  // Keras applies the step's update before the callback sees the loss: the NaN gradients reach
  // the weights, and the step counts.
  EXPECT_EQ(m.iterations(), 3);
  EXPECT_FALSE(allFinite(m));
}

TEST_F(FitLoop, WithoutTerminateOnNaNFitStopsWithAnErrorAfterTheCallbacks) {
  Model m = smallModel();
  Array x = data(8, 3, 1), y = data(8, 1, 0.5);
  y.data[5] = INFINITY; // an infinite target: batch 2 (0-based) has an infinite loss
  auto rec = std::make_shared<Recorder>();
  try {
    m.fit(x, y, {.batch_size = 2, .epochs = 2, .verbose = 0, .shuffle = false,
                 .callbacks = {rec}});
    FAIL() << "no error";
  } catch (const Error &e) {
    std::string what = e.what();
    EXPECT_NE(what.find("the loss became infinite at epoch 1, batch 3 of 4"), std::string::npos)
        << what;
    EXPECT_NE(what.find("TerminateOnNaN"), std::string::npos) << what;
  }
  // The user's callback saw the batch first; the weights are those from before it.
  ASSERT_EQ(rec->trainBatchEnd.size(), 3u);
  EXPECT_FALSE(std::isfinite(rec->trainBatchEnd[2].at("loss")));
  EXPECT_EQ(m.iterations(), 2);
  EXPECT_TRUE(allFinite(m));
}

//===----------------------------------------------------------------------===//
// Hook order
//===----------------------------------------------------------------------===//

TEST_F(FitLoop, HookOrderOfFitWithValidationEvaluateAndPredict) {
  Model m = smallModel();
  auto rec = std::make_shared<Recorder>();
  // 6 training samples in batches of 4: 2 steps; 3 validation samples: 1 step.
  m.fit(data(6, 3, 1), data(6, 1, 0.5),
        {.batch_size = 4, .epochs = 2, .verbose = 0, .validation_x = {data(3, 3, 2)},
         .validation_y = {data(3, 1, 0.3)}, .callbacks = {rec}});
  std::vector<std::string> epoch = {"train_batch_begin 0", "train_batch_end 0",
                                    "train_batch_begin 1", "train_batch_end 1",
                                    "test_begin",          "test_batch_begin 0",
                                    "test_batch_end 0",    "test_end"};
  std::vector<std::string> want = {"train_begin", "epoch_begin 0"};
  want.insert(want.end(), epoch.begin(), epoch.end());
  want.insert(want.end(), {"epoch_end 0", "epoch_begin 1"});
  want.insert(want.end(), epoch.begin(), epoch.end());
  want.insert(want.end(), {"epoch_end 1", "train_end"});
  EXPECT_EQ(rec->calls, want);
  // Validation's own logs are unprefixed; the epoch's carry them as val_.
  ASSERT_EQ(rec->testEnd.size(), 2u);
  EXPECT_EQ(rec->testEnd[1].count("loss"), 1u);
  EXPECT_DOUBLE_EQ(rec->epochEnd[1].at("val_loss"), rec->testEnd[1].at("loss"));

  rec->calls.clear();
  m.evaluate(data(5, 3, 1), data(5, 1, 0.5), {.batch_size = 3, .callbacks = {rec}});
  EXPECT_EQ(rec->calls, (std::vector<std::string>{"test_begin", "test_batch_begin 0",
                                                  "test_batch_end 0", "test_batch_begin 1",
                                                  "test_batch_end 1", "test_end"}));
  rec->calls.clear();
  m.predict(data(5, 3, 1), {.batch_size = 2, .callbacks = {rec}});
  EXPECT_EQ(rec->calls,
            (std::vector<std::string>{"predict_begin", "predict_batch_begin 0",
                                      "predict_batch_end 0", "predict_batch_begin 1",
                                      "predict_batch_end 1", "predict_batch_begin 2",
                                      "predict_batch_end 2", "predict_end"}));
}

//===----------------------------------------------------------------------===//
// ProgbarLogger, BaseLogger
//===----------------------------------------------------------------------===//

/// Adds "custom" = batch + 1 to each training batch's logs.
class Custom : public Callback {
public:
  void on_train_batch_end(int64_t b, Logs &l) override { l["custom"] = double(b + 1); }
};

TEST_F(FitLoop, ProgbarLoggerVerbose2Lines) {
  Model m = smallModel();
  auto bar = std::make_shared<ProgbarLogger>("steps");
  bar->stream = std::tmpfile();
  testing::internal::CaptureStdout();
  History h = m.fit(data(10, 3, 1), data(10, 1, 0.5),
                    {.batch_size = 4, .epochs = 2, .verbose = 2, .validation_split = 0.2,
                     .callbacks = {bar}});
  // The user's logger replaces fit's own: nothing else reaches stdout.
  EXPECT_EQ(testing::internal::GetCapturedStdout(), "");
  std::string out = readBack(bar->stream);
  char want[512];
  std::string expected;
  for (int e = 0; e < 2; ++e) {
    std::snprintf(want, sizeof want, " - loss: %.4f - val_loss: %.4f - ", h.history["loss"][e],
                  h.history["val_loss"][e]);
    expected += "Epoch " + std::to_string(e + 1) + "\\/2\n2\\/2 - [0-9]+s";
    expected += std::regex_replace(std::string(want), std::regex(R"([.\[\]/])"), R"(\$&)");
    expected += R"([0-9]+s/epoch - [0-9]+(us|ms|s)/step\n)";
  }
  EXPECT_TRUE(std::regex_match(out, std::regex(expected))) << out << "\nvs\n" << expected;
}

TEST_F(FitLoop, ProgbarLoggerCountsSamplesAndAveragesOtherKeys) {
  Model m = smallModel();
  auto bar = std::make_shared<ProgbarLogger>("samples");
  bar->stream = std::tmpfile();
  // 10 samples in batches 4, 4, 2: the counter ends at 10 samples; "custom" (1, 2, 3) shows as
  // its average weighted by the samples each batch added: (1*4 + 2*4 + 3*2) / 10 = 1.8.
  History h = m.fit(data(10, 3, 1), data(10, 1, 0.5),
                    {.batch_size = 4, .epochs = 1, .verbose = 1, .callbacks = {std::make_shared<Custom>(), bar}});
  std::string out = readBack(bar->stream);
  char loss[64];
  std::snprintf(loss, sizeof loss, "%.4f", h.history["loss"][0]);
  std::regex want(R"(10/10 \[==============================\] - [0-9]+s [0-9]+(us|ms|s)/sample - loss: )" +
                  std::string(loss) + R"( - custom: 1\.8000\n)");
  EXPECT_TRUE(std::regex_match(out, want)) << out;

  auto stateful = std::make_shared<ProgbarLogger>("steps", std::vector<std::string>{"custom"});
  stateful->stream = std::tmpfile();
  m.fit(data(10, 3, 1), data(10, 1, 0.5),
        {.batch_size = 4, .epochs = 1, .verbose = 1,
         .callbacks = {std::make_shared<Custom>(), stateful}});
  out = readBack(stateful->stream);
  EXPECT_NE(out.find("3/3 [==="), std::string::npos) << out;
  EXPECT_NE(out.find(" - custom: 3.0000\n"), std::string::npos) << out;
  EXPECT_THROW(ProgbarLogger("epochs"), Error);
}

TEST_F(FitLoop, BaseLoggerAveragesBatchLogsIntoTheEpoch) {
  Model m = smallModel();
  auto rec = std::make_shared<Recorder>();
  // Batch sizes 4, 4, 2 with custom 1, 2, 3: (4 + 8 + 6) / 10 = 1.8. With "custom" stateful
  // it keeps the last value, 3. fit's own loss is a running epoch mean already: unchanged.
  History h = m.fit(data(10, 3, 1), data(10, 1, 0.5),
                    {.batch_size = 4, .epochs = 2, .verbose = 0,
                     .callbacks = {rec, std::make_shared<Custom>(), std::make_shared<BaseLogger>()}});
  ASSERT_EQ(h.history["custom"].size(), 2u);
  EXPECT_DOUBLE_EQ(h.history["custom"][0], 1.8);
  EXPECT_DOUBLE_EQ(h.history["custom"][1], 1.8);
  EXPECT_DOUBLE_EQ(h.history["loss"][1], rec->epochEnd[1].at("loss"));
  h = m.fit(data(10, 3, 1), data(10, 1, 0.5),
            {.batch_size = 4, .epochs = 1, .verbose = 0,
             .callbacks = {std::make_shared<Custom>(),
                           std::make_shared<BaseLogger>(std::vector<std::string>{"custom"})}});
  EXPECT_DOUBLE_EQ(h.history["custom"][0], 3.0);
}

//===----------------------------------------------------------------------===//
// fit over a utils::Sequence
//===----------------------------------------------------------------------===//

/// Batches of an ArraySequence, recording the indices fit asks for and the epoch ends.
class Recording : public utils::ArraySequence {
public:
  using ArraySequence::ArraySequence;
  std::pair<Array, Array> get(int64_t i) override {
    asked.push_back(i);
    return ArraySequence::get(i);
  }
  void on_epoch_end() override {
    ++epochEnds;
    ArraySequence::on_epoch_end();
  }
  std::vector<int64_t> asked;
  int epochEnds = 0;
};

TEST_F(FitLoop, SequenceTrainsAsTheArraysWithTheSameBatches) {
  Array x = data(10, 3, 1), y = data(10, 1, 0.5);
  Model a = smallModel();
  std::vector<Array> initial = a.get_weights();
  History ha = a.fit(x, y, {.batch_size = 4, .epochs = 3, .verbose = 0, .shuffle = false});
  Model b = smallModel();
  b.set_weights(initial);
  Recording seq(x, y, 4, /*shuffle=*/false);
  History hb = b.fit(seq, {.epochs = 3, .verbose = 0, .shuffle = false});
  EXPECT_EQ(seq.asked, (std::vector<int64_t>{0, 1, 2, 0, 1, 2, 0, 1, 2}));
  EXPECT_EQ(seq.epochEnds, 3);
  for (int e = 0; e < 3; ++e)
    EXPECT_DOUBLE_EQ(ha.history["loss"][e], hb.history["loss"][e]);
  std::vector<Array> wa = a.get_weights(), wb = b.get_weights();
  for (size_t i = 0; i < wa.size(); ++i)
    for (int64_t j = 0; j < wa[i].size(); ++j)
      EXPECT_EQ(wa[i].data[j], wb[i].data[j]);
  // evaluate and predict over the Sequence read its batches in order.
  Recording ordered(x, y, 4, false);
  EXPECT_EQ(b.evaluate(ordered), b.evaluate(x, y, {.batch_size = 4}));
  Array pa = b.predict(x), pb = b.predict(ordered);
  EXPECT_EQ(pa.shape, pb.shape);
  for (int64_t j = 0; j < pa.size(); ++j)
    EXPECT_FLOAT_EQ(pa.data[j], pb.data[j]);
}

TEST_F(FitLoop, SequenceBatchOrderIsShuffledPerEpoch) {
  Array x = data(16, 3, 1), y = data(16, 1, 0.5);
  Model m = smallModel();
  Recording seq(x, y, 2, false);
  m.fit(seq, {.epochs = 3, .verbose = 0, .shuffle = true, .seed = 7});
  ASSERT_EQ(seq.asked.size(), 24u);
  std::vector<std::vector<int64_t>> epochs;
  for (int e = 0; e < 3; ++e) {
    std::vector<int64_t> order(seq.asked.begin() + 8 * e, seq.asked.begin() + 8 * (e + 1));
    epochs.push_back(order);
    std::sort(order.begin(), order.end());
    EXPECT_EQ(order, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7})); // each batch once
  }
  EXPECT_NE(epochs[0], epochs[1]);
  EXPECT_NE(epochs[1], epochs[2]);
  EXPECT_EQ(seq.epochEnds, 3);
}

TEST_F(FitLoop, SequenceWithBadBatchIsAClearError) {
  Model m = smallModel();
  Array x = data(6, 2, 1), y = data(6, 1, 0.5); // 2 features for a model of 3
  utils::ArraySequence seq(x, y, 3, false);
  try {
    m.fit(seq, {.verbose = 0});
    FAIL() << "no error";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("expected input of shape (None, 3)"), std::string::npos)
        << e.what();
  }
}

} // namespace
