//===- CallbacksTest.cpp - Keras' built-in callbacks on small worked cases -===//
//
// Each callback against Keras 3's documented behaviour: scripted metric sequences driven
// through the hooks directly (EarlyStopping, ReduceLROnPlateau, LearningRateScheduler,
// CSVLogger), and real fits for what needs one (stopping, checkpoints, resuming a fit,
// TensorBoard records, RemoteMonitor against an HTTP server on 127.0.0.1).
//
//===----------------------------------------------------------------------===//
#include "kiln/kiln.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <netinet/in.h>
#include <sstream>
#include <set>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace kiln;
using namespace kiln::layers;
using namespace kiln::callbacks;
namespace fs = std::filesystem;

namespace {

fs::path scratch(const std::string &name) {
  fs::path p = fs::temp_directory_path() / ("kiln-callbacks-" + std::to_string(getpid())) / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

std::string slurp(const fs::path &p) {
  std::ifstream is(p, std::ios::binary);
  std::stringstream ss;
  ss << is.rdbuf();
  return ss.str();
}

/// A small regression model: Dense(4, tanh) -> Dense(1), compiled with `opt`.
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

/// Drives `cb` through on_epoch_end with `monitor` taking each value in turn; returns the
/// number of epochs run before it set stop_training.
int drive(Callback &cb, Model &m, const std::string &monitor, const std::vector<double> &values) {
  cb.model = &m;
  m.stop_training(false);
  Logs logs;
  cb.on_train_begin(logs);
  int epochs = 0;
  for (size_t e = 0; e < values.size() && !m.stop_training(); ++e) {
    logs = {{monitor, values[e]}};
    cb.on_epoch_begin(int(e), logs);
    cb.on_epoch_end(int(e), logs);
    ++epochs;
  }
  cb.on_train_end(logs);
  return epochs;
}

class Callbacks : public ::testing::Test {
protected:
  void SetUp() override {
    backend::clear_session();
    utils::set_random_seed(1234);
  }
};

//===----------------------------------------------------------------------===//
// Formatting helpers
//===----------------------------------------------------------------------===//

TEST(CallbackFormat, PythonFloatRepr) {
  EXPECT_EQ(python_float_repr(0.5), "0.5");
  EXPECT_EQ(python_float_repr(3.0), "3.0");
  EXPECT_EQ(python_float_repr(-2.5), "-2.5");
  EXPECT_EQ(python_float_repr(1e-05), "1e-05");
  EXPECT_EQ(python_float_repr(0.0001), "0.0001");
  EXPECT_EQ(python_float_repr(1.5e-07), "1.5e-07");
  EXPECT_EQ(python_float_repr(1e16), "1e+16");
  EXPECT_EQ(python_float_repr(123456789.0), "123456789.0");
  EXPECT_EQ(python_float_repr(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(python_float_repr(0.0), "0.0");
  EXPECT_EQ(python_float_repr(NAN), "nan");
}

TEST(CallbackFormat, FilepathAsPythonFormat) {
  std::map<std::string, double> v = {{"epoch", 3}, {"val_loss", 0.12345}, {"loss", 0.5}};
  EXPECT_EQ(format_filepath("w.{epoch:02d}-{val_loss:.2f}.h5", v), "w.03-0.12.h5");
  EXPECT_EQ(format_filepath("{epoch}/{loss}", v), "3/0.5");
  EXPECT_EQ(format_filepath("{{epoch}}{epoch:>4}", v), "{epoch}   3");
  EXPECT_EQ(format_filepath("{val_loss:.3e}", v), "1.235e-01");
  EXPECT_EQ(format_filepath("{loss:.1%}", v), "50.0%");
  EXPECT_THROW(format_filepath("{accuracy:.2f}", v), Error);
  EXPECT_THROW(format_filepath("{loss:02d}", v), Error);
}

TEST(CallbackFormat, Crc32cKnownValues) {
  // The CRC-32C check value, and RFC 3720's 32 bytes of zeros.
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  std::string zeros(32, '\0');
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
}

//===----------------------------------------------------------------------===//
// EarlyStopping
//===----------------------------------------------------------------------===//

TEST_F(Callbacks, EarlyStoppingKerasDocExample) {
  // Keras' docstring: patience=3 on a loss that never improves after the first epoch runs 4
  // epochs of 10. The loss is scripted by a LambdaCallback listed before EarlyStopping.
  Model m = smallModel();
  std::vector<double> script = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  auto lambda = std::make_shared<LambdaCallback>(LambdaCallbackOptions{
      .on_epoch_end = [&](int e, Logs &logs) { logs["loss"] = script[e]; }});
  auto es = std::make_shared<EarlyStopping>(EarlyStoppingOptions{.monitor = "loss", .patience = 3});
  History h = m.fit(data(8, 3, 1), data(8, 1, 0.5),
                    {.batch_size = 4, .epochs = 10, .verbose = 0, .callbacks = {lambda, es}});
  EXPECT_EQ(h.epoch.size(), 4u);
  EXPECT_EQ(es->stopped_epoch, 3);
  EXPECT_EQ(es->best_epoch, 0);
}

TEST_F(Callbacks, EarlyStoppingMinDelta) {
  Model m = smallModel();
  // 0.95 is not better than 1.0 by more than 0.1: with patience 1 the second epoch stops it.
  EarlyStopping es({.monitor = "loss", .min_delta = -0.1, .patience = 1});
  EXPECT_EQ(drive(es, m, "loss", {1.0, 0.95, 0.9, 0.5}), 2);
  EarlyStopping es2({.monitor = "loss", .min_delta = 0.01, .patience = 1});
  EXPECT_EQ(drive(es2, m, "loss", {1.0, 0.95, 0.9, 0.5, 0.5}), 5);
}

TEST_F(Callbacks, EarlyStoppingModes) {
  Model m = smallModel();
  EarlyStopping acc({.monitor = "val_accuracy", .patience = 1}); // auto: maximize
  EXPECT_EQ(drive(acc, m, "val_accuracy", {0.5, 0.6, 0.7, 0.65, 0.9}), 4);
  EarlyStopping max({.monitor = "val_loss", .patience = 1, .mode = "max"});
  EXPECT_EQ(drive(max, m, "val_loss", {1.0, 0.9, 0.8}), 2);
  EarlyStopping unknown({.monitor = "my_metric"});
  EXPECT_THROW(drive(unknown, m, "my_metric", {1.0}), Error);
  EXPECT_THROW(EarlyStopping({.mode = "minimum"}), Error);
}

TEST_F(Callbacks, EarlyStoppingBaseline) {
  Model m = smallModel();
  // Improving on the best but not on the baseline does not reset the wait.
  EarlyStopping es({.monitor = "loss", .patience = 2, .baseline = 0.5});
  EXPECT_EQ(drive(es, m, "loss", {0.9, 0.9, 0.9, 0.9}), 2);
  EarlyStopping below({.monitor = "loss", .patience = 2, .baseline = 0.5});
  EXPECT_EQ(drive(below, m, "loss", {0.4, 0.4, 0.4, 0.4}), 3);
}

TEST_F(Callbacks, EarlyStoppingStartFromEpoch) {
  Model m = smallModel();
  EarlyStopping es({.monitor = "loss", .patience = 1, .start_from_epoch = 2});
  EXPECT_EQ(drive(es, m, "loss", {5, 6, 3, 4, 5}), 4);
  EXPECT_EQ(es.best_epoch, 2);
}

TEST_F(Callbacks, EarlyStoppingRestoresBestWeights) {
  Model m = smallModel();
  EarlyStopping es({.monitor = "loss", .patience = 2, .restore_best_weights = true});
  es.model = &m;
  Logs logs;
  es.on_train_begin(logs);
  std::vector<double> losses = {1.0, 0.5, 0.7, 0.8, 0.9};
  std::vector<Array> atBest;
  int e = 0;
  for (; e < 5 && !m.stop_training(); ++e) {
    std::vector<Array> w = m.get_weights();
    for (Array &a : w)
      std::fill(a.data.begin(), a.data.end(), float(e));
    m.set_weights(w);
    if (e == 1)
      atBest = w;
    logs = {{"loss", losses[e]}};
    es.on_epoch_end(e, logs);
  }
  es.on_train_end(logs);
  EXPECT_EQ(e, 4);
  EXPECT_EQ(es.stopped_epoch, 3);
  EXPECT_EQ(es.best_epoch, 1);
  std::vector<Array> now = m.get_weights();
  for (size_t i = 0; i < now.size(); ++i)
    EXPECT_EQ(now[i].data, atBest[i].data);
}

//===----------------------------------------------------------------------===//
// ReduceLROnPlateau, LearningRateScheduler
//===----------------------------------------------------------------------===//

TEST_F(Callbacks, ReduceLROnPlateauPatienceCooldownMinLr) {
  Model m = smallModel(optimizers::SGD(1.0));
  ReduceLROnPlateau cb({.monitor = "loss", .factor = 0.5, .patience = 2, .min_delta = 0,
                        .cooldown = 1, .min_lr = 0.2});
  cb.model = &m;
  Logs logs;
  cb.on_train_begin(logs);
  std::vector<double> after, logged;
  for (int e = 0; e < 9; ++e) {
    logs = {{"loss", 1.0}};
    cb.on_epoch_end(e, logs);
    after.push_back(m.optimizer().learning_rate);
    logged.push_back(logs.at("learning_rate"));
  }
  EXPECT_EQ(after, (std::vector<double>{1, 1, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2, 0.2}));
  EXPECT_EQ(logged, (std::vector<double>{1, 1, 1, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2}));
  EXPECT_THROW(ReduceLROnPlateau({.factor = 1.0}), Error);
}

TEST_F(Callbacks, ReduceLROnPlateauImprovementResetsWait) {
  Model m = smallModel(optimizers::SGD(1.0));
  ReduceLROnPlateau cb({.monitor = "val_accuracy", .factor = 0.1, .patience = 2});
  EXPECT_EQ(drive(cb, m, "val_accuracy", {0.5, 0.5, 0.6, 0.6}), 4);
  EXPECT_DOUBLE_EQ(m.optimizer().learning_rate, 1.0);
  drive(cb, m, "val_accuracy", {0.5, 0.5, 0.5});
  EXPECT_DOUBLE_EQ(m.optimizer().learning_rate, 0.1);
}

TEST_F(Callbacks, LearningRateSchedulerKerasDocExample) {
  // Keras' docstring: lr kept for 10 epochs, then times exp(-0.1): 0.01 -> 0.00607 after 15.
  Model m = smallModel(optimizers::SGD());
  LearningRateScheduler cb([](int epoch, double lr) { return epoch < 10 ? lr : lr * std::exp(-0.1); });
  cb.model = &m;
  Logs logs;
  for (int e = 0; e < 15; ++e) {
    cb.on_epoch_begin(e, logs);
    cb.on_epoch_end(e, logs);
  }
  EXPECT_NEAR(m.optimizer().learning_rate, 0.00607, 5e-6);
  EXPECT_DOUBLE_EQ(logs.at("learning_rate"), m.optimizer().learning_rate);
}

TEST_F(Callbacks, LearningRateSchedulerDrivesFit) {
  // With a learning rate of 0 from the second epoch on, the weights stop moving.
  Model m = smallModel(optimizers::SGD(0.1));
  std::vector<Array> init = m.get_weights();
  std::vector<std::vector<Array>> perEpoch;
  auto sched = std::make_shared<LearningRateScheduler>(
      [](int epoch, double lr) { return epoch == 0 ? lr : 0.0; });
  auto grab = std::make_shared<LambdaCallback>(LambdaCallbackOptions{
      .on_epoch_end = [&](int, Logs &) { perEpoch.push_back(m.get_weights()); }});
  History h = m.fit(data(8, 3, 1), data(8, 1, 0.5),
                    {.batch_size = 4, .epochs = 3, .verbose = 0, .callbacks = {sched, grab}});
  ASSERT_EQ(perEpoch.size(), 3u);
  EXPECT_EQ(perEpoch[1][0].data, perEpoch[2][0].data);
  EXPECT_NE(perEpoch[0][0].data, init[0].data);
}

//===----------------------------------------------------------------------===//
// CSVLogger, TerminateOnNaN, LambdaCallback
//===----------------------------------------------------------------------===//

TEST_F(Callbacks, CSVLoggerKerasColumnsAndAppend) {
  fs::path dir = scratch("csv");
  std::string file = (dir / "log.csv").string();
  Model m = smallModel();
  auto run = [&](CSVLogger &cb, std::vector<Logs> epochs) {
    cb.model = &m;
    Logs l;
    cb.on_train_begin(l);
    for (size_t e = 0; e < epochs.size(); ++e)
      cb.on_epoch_end(int(e), epochs[e]);
    cb.on_train_end(l);
  };
  CSVLogger a(file);
  run(a, {{{"loss", 0.5}, {"mae", 0.25}}, {{"loss", 0.25}, {"mae", 1e-05}}});
  EXPECT_EQ(slurp(file), "epoch,loss,mae,val_loss,val_mae\r\n"
                         "0,0.5,0.25,NA,NA\r\n"
                         "1,0.25,1e-05,NA,NA\r\n");
  CSVLogger b(file, ",", /*append=*/true);
  run(b, {{{"loss", 0.125}, {"mae", 2.0}}});
  EXPECT_EQ(slurp(file), "epoch,loss,mae,val_loss,val_mae\r\n"
                         "0,0.5,0.25,NA,NA\r\n"
                         "1,0.25,1e-05,NA,NA\r\n"
                         "0,0.125,2.0,NA,NA\r\n");
  CSVLogger c((dir / "semi.csv").string(), ";");
  run(c, {{{"val_loss", 3.0}, {"loss", 1.0}, {"accuracy", 0.75}}});
  EXPECT_EQ(slurp(dir / "semi.csv"), "epoch;accuracy;loss;val_loss\r\n0;0.75;1.0;3.0\r\n");
}

TEST_F(Callbacks, CSVLoggerInFitMatchesHistory) {
  fs::path dir = scratch("csvfit");
  Model m = smallModel();
  auto cb = std::make_shared<CSVLogger>((dir / "h.csv").string());
  History h = m.fit(data(12, 3, 1), data(12, 1, 0.5),
                    {.batch_size = 4, .epochs = 3, .verbose = 0, .validation_split = 0.25,
                     .callbacks = {cb}});
  std::ifstream is(dir / "h.csv");
  std::string line;
  std::getline(is, line);
  EXPECT_EQ(line, "epoch,loss,val_loss\r");
  for (int e = 0; e < 3; ++e) {
    std::getline(is, line);
    EXPECT_EQ(line, std::to_string(e) + "," + python_float_repr(h.history["loss"][e]) + "," +
                        python_float_repr(h.history["val_loss"][e]) + "\r");
  }
}

TEST_F(Callbacks, TerminateOnNaN) {
  Model m = smallModel();
  TerminateOnNaN cb;
  cb.model = &m;
  Logs ok = {{"loss", 1.0}}, bad = {{"loss", NAN}}, inf = {{"loss", INFINITY}};
  cb.on_train_batch_end(0, ok);
  EXPECT_FALSE(m.stop_training());
  cb.on_train_batch_end(1, bad);
  EXPECT_TRUE(m.stop_training());
  m.stop_training(false);
  cb.on_train_batch_end(2, inf);
  EXPECT_TRUE(m.stop_training());
}

TEST_F(Callbacks, LambdaCallbackSeesEveryHook) {
  Model m = smallModel();
  std::map<std::string, int> calls;
  auto count = [&](const char *name) { return [&calls, name](auto &&...) { ++calls[name]; }; };
  auto cb = std::make_shared<LambdaCallback>(LambdaCallbackOptions{
      .on_train_begin = count("train_begin"),
      .on_train_end = count("train_end"),
      .on_epoch_begin = count("epoch_begin"),
      .on_epoch_end = count("epoch_end"),
      .on_train_batch_begin = count("batch_begin"),
      .on_train_batch_end = count("batch_end"),
      .on_test_begin = count("test_begin"),
      .on_test_end = count("test_end"),
      .on_test_batch_begin = count("test_batch_begin"),
      .on_test_batch_end = count("test_batch_end")});
  m.fit(data(10, 3, 1), data(10, 1, 0.5), {.batch_size = 4, .epochs = 2, .verbose = 0, .callbacks = {cb}});
  EXPECT_EQ(calls["train_begin"], 1);
  EXPECT_EQ(calls["train_end"], 1);
  EXPECT_EQ(calls["epoch_begin"], 2);
  EXPECT_EQ(calls["epoch_end"], 2);
  EXPECT_EQ(calls["batch_begin"], 6);
  EXPECT_EQ(calls["batch_end"], 6);
  m.evaluate(data(10, 3, 1), data(10, 1, 0.5), {.batch_size = 5, .callbacks = {cb}});
  EXPECT_EQ(calls["test_begin"], 1);
  EXPECT_EQ(calls["test_batch_end"], 2);
  EXPECT_EQ(calls["test_end"], 1);
}

//===----------------------------------------------------------------------===//
// ModelCheckpoint, BackupAndRestore
//===----------------------------------------------------------------------===//

TEST_F(Callbacks, ModelCheckpointFormatsFilepathEachEpoch) {
  fs::path dir = scratch("ckpt");
  Model m = smallModel();
  auto cb = std::make_shared<ModelCheckpoint>(
      (dir / "sub" / "w.{epoch:02d}-{val_loss:.2f}.weights.h5").string(),
      ModelCheckpointOptions{.save_weights_only = true});
  History h = m.fit(data(12, 3, 1), data(12, 1, 0.5),
                    {.batch_size = 4, .epochs = 3, .verbose = 0, .validation_split = 0.25,
                     .callbacks = {cb}});
  for (int e = 0; e < 3; ++e) {
    char name[64];
    std::snprintf(name, sizeof name, "w.%02d-%.2f.weights.h5", e + 1, h.history["val_loss"][e]);
    EXPECT_TRUE(fs::exists(dir / "sub" / name)) << name;
  }
  // The last file holds the final weights.
  char last[64];
  std::snprintf(last, sizeof last, "w.03-%.2f.weights.h5", h.history["val_loss"][2]);
  std::vector<Array> final = m.get_weights();
  Model other = smallModel();
  other.load_weights((dir / "sub" / last).string());
  for (size_t i = 0; i < final.size(); ++i)
    EXPECT_EQ(other.get_weights()[i].data, final[i].data);
  EXPECT_THROW(ModelCheckpoint("m.keras", {.save_weights_only = true}), Error);
  EXPECT_THROW(ModelCheckpoint("m.weights.h5"), Error);
  EXPECT_THROW(ModelCheckpoint("m.json"), Error);
}

TEST_F(Callbacks, ModelCheckpointWritesKerasArchives) {
  fs::path dir = scratch("archive");
  Model m = smallModel(optimizers::Adam(0.01));
  auto cb = std::make_shared<ModelCheckpoint>((dir / "m-{epoch}.keras").string());
  m.fit(data(8, 3, 1), data(8, 1, 0.5),
        {.batch_size = 4, .epochs = 2, .verbose = 0, .callbacks = {cb}});
  Model loaded = load_model((dir / "m-2.keras").string());
  EXPECT_EQ(loaded.iterations(), 4);
  for (size_t i = 0; i < m.get_weights().size(); ++i)
    EXPECT_EQ(loaded.get_weights()[i].data, m.get_weights()[i].data);
  EXPECT_TRUE(fs::exists(dir / "m-1.keras"));
}

TEST_F(Callbacks, ModelCheckpointSaveBestOnly) {
  fs::path dir = scratch("best");
  Model m = smallModel();
  std::vector<double> script = {1.0, 2.0, 0.5, 0.7};
  auto lambda = std::make_shared<LambdaCallback>(LambdaCallbackOptions{
      .on_epoch_end = [&](int e, Logs &logs) { logs["val_loss"] = script[e]; }});
  auto cb = std::make_shared<ModelCheckpoint>((dir / "m-{epoch}.h5").string(),
                                              ModelCheckpointOptions{.save_best_only = true});
  m.fit(data(8, 3, 1), data(8, 1, 0.5),
        {.batch_size = 4, .epochs = 4, .verbose = 0, .callbacks = {lambda, cb}});
  EXPECT_TRUE(fs::exists(dir / "m-1.h5"));
  EXPECT_FALSE(fs::exists(dir / "m-2.h5"));
  EXPECT_TRUE(fs::exists(dir / "m-3.h5"));
  EXPECT_FALSE(fs::exists(dir / "m-4.h5"));
  EXPECT_DOUBLE_EQ(cb->best, 0.5);
  Model loaded = load_model((dir / "m-3.h5").string());
  EXPECT_EQ(loaded.count_params(), m.count_params());
}

struct Interrupt : std::runtime_error {
  Interrupt() : std::runtime_error("interrupted") {}
};

TEST_F(Callbacks, BackupAndRestoreResumesAnInterruptedFit) {
  fs::path dir = scratch("backup");
  Array x = data(16, 3, 1), y = data(16, 1, 0.5);
  FitOptions base{.batch_size = 4, .epochs = 5, .verbose = 0, .shuffle = false};

  Model ref = smallModel(optimizers::Adam(0.01));
  std::vector<Array> init = ref.get_weights();
  ref.fit(x, y, base);

  Model m = smallModel(optimizers::Adam(0.01));
  m.set_weights(init);
  auto interrupt = std::make_shared<LambdaCallback>(LambdaCallbackOptions{
      .on_epoch_end = [](int e, Logs &) {
        if (e == 2)
          throw Interrupt();
      }});
  FitOptions first = base;
  first.callbacks = {std::make_shared<BackupAndRestore>(dir.string()), interrupt};
  EXPECT_THROW(m.fit(x, y, first), Interrupt);
  EXPECT_EQ(slurp(dir / "training_metadata.json"),
            "{\"batch\":0,\"epoch\":3,\"optimizer\":\"epoch-3.optimizer.bin\","
            "\"weights\":\"epoch-3.weights.h5\"}");
  // Only the latest state is kept.
  std::set<std::string> files;
  for (const auto &e : fs::directory_iterator(dir))
    files.insert(e.path().filename().string());
  EXPECT_EQ(files, (std::set<std::string>{"epoch-3.optimizer.bin", "epoch-3.weights.h5",
                                          "training_metadata.json"}));

  // A fresh optimizer and scrambled weights: everything must come from the backup.
  m.compile({.optimizer = optimizers::Adam(0.01), .loss = "mse"});
  std::vector<Array> junk = m.get_weights();
  for (Array &a : junk)
    std::fill(a.data.begin(), a.data.end(), 0.3f);
  m.set_weights(junk);
  FitOptions second = base;
  second.callbacks = {std::make_shared<BackupAndRestore>(dir.string())};
  History h = m.fit(x, y, second);
  EXPECT_EQ(h.epoch, (std::vector<int>{3, 4}));
  EXPECT_EQ(m.iterations(), ref.iterations());
  std::vector<Array> a = m.get_weights(), b = ref.get_weights();
  for (size_t i = 0; i < a.size(); ++i)
    for (int64_t j = 0; j < a[i].size(); ++j)
      EXPECT_NEAR(a[i].data[j], b[i].data[j], 1e-6);
  EXPECT_FALSE(fs::exists(dir)); // deleted once the fit completes
}

TEST_F(Callbacks, BackupAndRestoreIgnoresLeftoversOfAnUncommittedBackup) {
  // A kill during the first epoch's backup leaves files but no training_metadata.json: the
  // next fit starts from the beginning, and its first backup removes the leftovers.
  fs::path dir = scratch("backup");
  fs::create_directories(dir);
  std::ofstream(dir / "epoch-1.weights.h5") << "half a file";
  std::ofstream(dir / "epoch-1.optimizer.bin.tmp.123") << "half";
  std::ofstream(dir / "notes.txt") << "not ours";
  Array x = data(16, 3, 1), y = data(16, 1, 0.5);
  Model m = smallModel(optimizers::Adam(0.01));
  auto stop = std::make_shared<LambdaCallback>(LambdaCallbackOptions{
      .on_epoch_end = [](int e, Logs &) {
        if (e == 0)
          throw Interrupt();
      }});
  EXPECT_THROW(m.fit(x, y, {.batch_size = 4, .epochs = 3, .verbose = 0, .shuffle = false,
                            .callbacks = {std::make_shared<BackupAndRestore>(dir.string()),
                                          stop}}),
               Interrupt);
  std::set<std::string> files;
  for (const auto &e : fs::directory_iterator(dir))
    files.insert(e.path().filename().string());
  EXPECT_EQ(files, (std::set<std::string>{"epoch-1.optimizer.bin", "epoch-1.weights.h5",
                                          "notes.txt", "training_metadata.json"}));
}

TEST_F(Callbacks, BackupAndRestoreRefusesABackupNamingOtherFiles) {
  fs::path dir = scratch("backup");
  fs::create_directories(dir);
  Array x = data(16, 3, 1), y = data(16, 1, 0.5);
  Model m = smallModel(); // one model: its training code is compiled once
  auto fitWith = [&](const std::string &meta) {
    std::ofstream(dir / "training_metadata.json") << meta;
    try {
      m.fit(x, y, {.batch_size = 4, .epochs = 2, .verbose = 0,
                   .callbacks = {std::make_shared<BackupAndRestore>(dir.string())}});
    } catch (const Error &e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(fitWith(R"({"epoch": 1, "weights": "../../etc/passwd", "optimizer": "o.bin"})")
                .find("\"weights\" must name a file in the backup directory, got "
                      "\"../../etc/passwd\""),
            std::string::npos);
  EXPECT_NE(fitWith(R"({"epoch": 1, "weights": "epoch-1.weights.h5"})")
                .find("names 'epoch-1.weights.h5', which is missing: the backup is incomplete"),
            std::string::npos);
  EXPECT_NE(fitWith(R"({"epoch": -1})").find("has no integer \"epoch\""), std::string::npos);
  EXPECT_NE(fitWith(R"({"epoch": 1, "weights": 7})").find("\"weights\" is not a string"),
            std::string::npos);
}

//===----------------------------------------------------------------------===//
// RemoteMonitor
//===----------------------------------------------------------------------===//

/// Accepts `n` HTTP requests on 127.0.0.1 (an ephemeral port), replies 200 to each.
struct TestServer {
  int fd = -1, port = 0;
  std::vector<std::string> requests;
  std::thread thread;
  explicit TestServer(int n) {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr);
    listen(fd, 8);
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len);
    port = ntohs(addr.sin_port);
    thread = std::thread([this, n] {
      for (int i = 0; i < n; ++i) {
        int c = accept(fd, nullptr, nullptr);
        if (c < 0)
          return;
        std::string req;
        char buf[4096];
        size_t want = std::string::npos;
        while (want == std::string::npos || req.size() < want) {
          ssize_t k = recv(c, buf, sizeof buf, 0);
          if (k <= 0)
            break;
          req.append(buf, k);
          size_t end = req.find("\r\n\r\n");
          if (end != std::string::npos && want == std::string::npos) {
            size_t cl = req.find("Content-Length: ");
            want = end + 4 + (cl == std::string::npos ? 0 : std::stoul(req.substr(cl + 16)));
          }
        }
        requests.push_back(req);
        std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
        close(c);
      }
    });
  }
  ~TestServer() {
    thread.join();
    close(fd);
  }
  static std::string body(const std::string &req) { return req.substr(req.find("\r\n\r\n") + 4); }
};

TEST_F(Callbacks, RemoteMonitorPostsEachEpoch) {
  Model m = smallModel();
  std::vector<std::string> reqs;
  {
    TestServer server(2);
    auto cb = std::make_shared<RemoteMonitor>(RemoteMonitorOptions{
        .root = "http://127.0.0.1:" + std::to_string(server.port),
        .path = "/publish/epoch/end/",
        .headers = {{"X-Test", "kiln"}},
        .send_as_json = true});
    m.fit(data(8, 3, 1), data(8, 1, 0.5),
          {.batch_size = 4, .epochs = 2, .verbose = 0, .callbacks = {cb}});
    server.thread.join();
    server.thread = std::thread([] {});
    reqs = server.requests;
  }
  ASSERT_EQ(reqs.size(), 2u);
  for (int e = 0; e < 2; ++e) {
    EXPECT_EQ(reqs[e].rfind("POST /publish/epoch/end/ HTTP/1.1\r\n", 0), 0u);
    EXPECT_NE(reqs[e].find("Content-Type: application/json\r\n"), std::string::npos);
    EXPECT_NE(reqs[e].find("X-Test: kiln\r\n"), std::string::npos);
    nlohmann::json j = nlohmann::json::parse(TestServer::body(reqs[e]));
    EXPECT_EQ(j["epoch"], e);
    EXPECT_TRUE(j["loss"].is_number_float());
    EXPECT_EQ(TestServer::body(reqs[e]).rfind("{\"epoch\": " + std::to_string(e) + ", \"loss\": ", 0), 0u);
  }
}

TEST_F(Callbacks, RemoteMonitorFormFieldAndUnreachableServer) {
  Model m = smallModel();
  {
    TestServer server(1);
    RemoteMonitor cb({.root = "http://127.0.0.1:" + std::to_string(server.port)});
    cb.model = &m;
    Logs logs = {{"loss", 0.5}, {"val_loss", 0.25}};
    cb.on_epoch_end(4, logs);
    server.thread.join();
    server.thread = std::thread([] {});
    ASSERT_EQ(server.requests.size(), 1u);
    EXPECT_NE(server.requests[0].find("Content-Type: application/x-www-form-urlencoded\r\n"),
              std::string::npos);
    // requests' form encoding of {"data": json.dumps({...})}.
    EXPECT_EQ(TestServer::body(server.requests[0]),
              "data=%7B%22epoch%22%3A+4%2C+%22loss%22%3A+0.5%2C+%22val_loss%22%3A+0.25%7D");
  }
  // A port nobody listens on: a warning, not an error.
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(s, reinterpret_cast<sockaddr *>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(s, reinterpret_cast<sockaddr *>(&addr), &len);
  close(s);
  RemoteMonitor dead({.root = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port))});
  dead.model = &m;
  Logs logs = {{"loss", 0.5}};
  EXPECT_NO_THROW(dead.on_epoch_end(0, logs));
  EXPECT_THROW(RemoteMonitor({.root = "https://example.com"}), Error);
}

//===----------------------------------------------------------------------===//
// TensorBoard
//===----------------------------------------------------------------------===//

/// One protobuf field: the wire type, and its varint / fixed value or its bytes.
struct Field {
  int wire;
  uint64_t number = 0;
  std::string bytes;
};
std::multimap<int, Field> decode(const std::string &b) {
  std::multimap<int, Field> out;
  size_t i = 0;
  auto varint = [&] {
    uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
      uint8_t c = uint8_t(b.at(i++));
      v |= uint64_t(c & 0x7F) << shift;
      if (!(c & 0x80))
        return v;
    }
  };
  while (i < b.size()) {
    uint64_t key = varint();
    Field f{int(key & 7)};
    if (f.wire == 0)
      f.number = varint();
    else if (f.wire == 1)
      std::memcpy(&f.number, b.data() + i, 8), i += 8;
    else if (f.wire == 5)
      std::memcpy(&f.number, b.data() + i, 4), i += 4;
    else if (f.wire == 2) {
      uint64_t n = varint();
      f.bytes = b.substr(i, n), i += n;
    } else
      ADD_FAILURE() << "wire type " << f.wire;
    out.emplace(int(key >> 3), f);
  }
  return out;
}

struct Scalar {
  std::string tag;
  int64_t step;
  float value;
};

/// Reads a TFRecord file, checking both masked CRCs of every record; returns the file_version
/// and the scalars.
std::pair<std::string, std::vector<Scalar>> readEvents(const std::string &path) {
  std::string s = slurp(path), version;
  std::vector<Scalar> scalars;
  size_t i = 0;
  while (i < s.size()) {
    uint64_t len;
    uint32_t lenCrc, dataCrc;
    std::memcpy(&len, s.data() + i, 8);
    std::memcpy(&lenCrc, s.data() + i + 8, 4);
    EXPECT_EQ(lenCrc, masked_crc32c(s.data() + i, 8));
    std::string rec = s.substr(i + 12, len);
    std::memcpy(&dataCrc, s.data() + i + 12 + len, 4);
    EXPECT_EQ(dataCrc, masked_crc32c(rec.data(), rec.size()));
    i += 16 + len;
    auto ev = decode(rec);
    EXPECT_EQ(ev.count(1), 1u); // wall_time
    if (ev.count(3))
      version = ev.find(3)->second.bytes;
    if (!ev.count(5))
      continue;
    auto value = decode(decode(ev.find(5)->second.bytes).find(1)->second.bytes);
    auto meta = decode(value.find(9)->second.bytes);
    EXPECT_EQ(decode(meta.find(1)->second.bytes).find(1)->second.bytes, "scalars");
    auto tensor = decode(value.find(8)->second.bytes);
    EXPECT_EQ(tensor.find(1)->second.number, 1u); // DT_FLOAT
    float v;
    std::memcpy(&v, tensor.find(4)->second.bytes.data(), 4);
    scalars.push_back({value.find(1)->second.bytes, int64_t(ev.find(2)->second.number), v});
  }
  EXPECT_EQ(i, s.size());
  return {version, scalars};
}

TEST_F(Callbacks, TensorBoardWritesScalarsPerEpoch) {
  fs::path dir = scratch("tb");
  Model m = smallModel(optimizers::SGD(0.05));
  auto cb = std::make_shared<TensorBoard>(TensorBoardOptions{.log_dir = dir.string()});
  History h = m.fit(data(12, 3, 1), data(12, 1, 0.5),
                    {.batch_size = 4, .epochs = 3, .verbose = 0, .validation_split = 0.25,
                     .callbacks = {cb}});
  ASSERT_EQ(fs::path(cb->train_file).parent_path(), dir / "train");
  EXPECT_EQ(fs::path(cb->train_file).filename().string().rfind("events.out.tfevents.", 0), 0u);
  auto [version, train] = readEvents(cb->train_file);
  EXPECT_EQ(version, "brain.Event:2");
  ASSERT_EQ(train.size(), 6u); // epoch_learning_rate and epoch_loss, 3 epochs
  for (int e = 0; e < 3; ++e) {
    EXPECT_EQ(train[2 * e].tag, "epoch_learning_rate");
    EXPECT_FLOAT_EQ(train[2 * e].value, 0.05f);
    EXPECT_EQ(train[2 * e + 1].tag, "epoch_loss");
    EXPECT_EQ(train[2 * e + 1].step, e);
    EXPECT_FLOAT_EQ(train[2 * e + 1].value, float(h.history["loss"][e]));
  }
  auto [vversion, val] = readEvents(cb->validation_file);
  EXPECT_EQ(fs::path(cb->validation_file).parent_path(), dir / "validation");
  ASSERT_EQ(val.size(), 3u);
  for (int e = 0; e < 3; ++e) {
    EXPECT_EQ(val[e].tag, "epoch_loss");
    EXPECT_EQ(val[e].step, e);
    EXPECT_FLOAT_EQ(val[e].value, float(h.history["val_loss"][e]));
  }
}

} // namespace
