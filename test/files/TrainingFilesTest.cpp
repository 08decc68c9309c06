//===- TrainingFilesTest.cpp - training_config and optimizer state in .h5 files -===//
//
// A compiled model saves Keras' training_config and its optimizer's state; load_model
// compiles it again and restores the state, so a resumed fit continues exactly. Keras 2 and
// Keras 3 spellings of training_config are read; malformed ones give errors naming the key.
//
//===----------------------------------------------------------------------===//
#include "kiln/kiln.h"

#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <filesystem>
#include <random>

using namespace kiln;
using namespace kiln::layers;
using json = nlohmann::json;

namespace {

const std::string kInputs = KILN_FILES_INPUTS;

class TrainingFiles : public ::testing::Test {
protected:
  void SetUp() override {
    backend::clear_session();
    dir = std::filesystem::temp_directory_path() /
          ("kiln-trainfiles-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir);
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  std::string tmp(const std::string &name) const { return (dir / name).string(); }
  std::filesystem::path dir;
};

template <typename F> void expectError(F f, std::vector<std::string> texts) {
  try {
    f();
    FAIL() << "no kiln::Error thrown";
  } catch (const Error &e) {
    for (const std::string &t : texts)
      EXPECT_NE(std::string(e.what()).find(t), std::string::npos)
          << "missing '" << t << "' in: " << e.what();
  }
}

Model mlp(bool dropout = false) {
  auto in = Input({4});
  auto x = Dense(8, {.activation = "relu", .kernel_initializer = initializers::HeNormal(7)})(in);
  if (dropout)
    x = Dropout(0.25)(x);
  auto out = Dense(3, {.activation = "softmax"})(x);
  return Model(in, out);
}

/// x (n, 4) and one-hot y (n, 3) from a fixed rule, so that training makes progress.
std::pair<Array, Array> data(int64_t n) {
  Array x({n, 4}), y({n, 3});
  std::mt19937 g(5);
  std::uniform_real_distribution<float> d(-1, 1);
  for (int64_t i = 0; i < n; ++i) {
    for (int j = 0; j < 4; ++j)
      x.data[i * 4 + j] = d(g);
    int c = x.data[i * 4] + x.data[i * 4 + 1] > 0.3f ? 0 : x.data[i * 4 + 2] > 0 ? 1 : 2;
    y.data[i * 3 + c] = 1;
  }
  return {x, y};
}

/// Replaces a string attribute of the root of an .h5 file.
void setRootAttr(const std::string &path, const std::string &name, const std::string &value) {
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  if (H5Aexists(f, name.c_str()) > 0)
    H5Adelete(f, name.c_str());
  hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, value.size());
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(f, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(a, type, value.data());
  H5Aclose(a);
  H5Sclose(space);
  H5Tclose(type);
  H5Fclose(f);
}

TEST_F(TrainingFiles, SaveWritesKeras3TrainingConfig) {
  Model m = mlp();
  m.compile({.optimizer = optimizers::Adam(0.002, {.amsgrad = true}),
             .loss = losses::CategoricalCrossentropy(/*from_logits=*/true),
             .metrics = {"accuracy"}});
  json c = training_config(m);
  EXPECT_EQ(c["optimizer_config"]["class_name"], "Adam");
  const json &oc = c["optimizer_config"]["config"];
  EXPECT_EQ(oc["name"], "adam");
  EXPECT_DOUBLE_EQ(oc["learning_rate"].get<double>(), 0.002);
  EXPECT_EQ(oc["amsgrad"], true);
  for (const char *k : {"beta_1", "beta_2", "epsilon", "clipnorm", "global_clipnorm", "clipvalue",
                        "weight_decay", "use_ema"})
    EXPECT_TRUE(oc.contains(k)) << k;
  EXPECT_EQ(c["loss"]["class_name"], "CategoricalCrossentropy");
  EXPECT_EQ(c["loss"]["config"]["from_logits"], true);
  EXPECT_EQ(c["metrics"], json::array({"accuracy"}));

  m.save(tmp("m.h5"));
  backend::clear_session();
  Model back = load_model(tmp("m.h5"));
  EXPECT_EQ(training_config(back), c);
  EXPECT_EQ(back.metrics_names(), (std::vector<std::string>{"loss", "accuracy"}));
  EXPECT_TRUE(back.optimizer().amsgrad);
  // compile = false, as Keras' load_model(compile=False): no training configuration.
  Model plain = load_model(tmp("m.h5"), {.compile = false});
  expectError([&] { plain.metrics_names(); }, {"compile() first"});
}

TEST_F(TrainingFiles, TrainingConfigRoundTripsForEveryOptimizer) {
  std::vector<optimizers::Optimizer> opts = {
      optimizers::SGD(0.05, {.momentum = 0.9, .nesterov = true, .clip = {.clipnorm = 1.0}}),
      optimizers::Adam(optimizers::schedules::ExponentialDecay(0.01, 10, 0.5, true)),
      optimizers::AdamW(0.001, {.weight_decay = 0.01}),
      optimizers::RMSprop(0.001, {.rho = 0.8, .momentum = 0.5, .centered = true}),
      optimizers::Adagrad(0.02, {.initial_accumulator_value = 0.2}),
      optimizers::Adadelta(1.0, {.rho = 0.9}),
      optimizers::Adamax(optimizers::schedules::PiecewiseConstantDecay({5, 10}, {0.1, 0.05, 0.01})),
      optimizers::Nadam(optimizers::schedules::CosineDecay(0.01, 100, 0.1, 0.02, 5)),
      optimizers::Ftrl(0.1, {.learning_rate_power = -0.7, .l1_regularization_strength = 0.01,
                             .beta = 0.5})};
  for (const auto &o : opts) {
    Model m = mlp();
    m.compile({.optimizer = o, .loss = "mse", .metrics = {"mae"}});
    json c = training_config(m);
    Model other = model_from_json(m.to_json());
    compile_from_training_config(other, c);
    EXPECT_EQ(training_config(other), c) << o.name;
    const auto &p = other.optimizer();
    EXPECT_EQ(p.name, o.name);
    EXPECT_EQ(p.momentum, o.momentum);
    EXPECT_EQ(p.nesterov, o.nesterov);
    EXPECT_EQ(p.centered, o.centered);
    EXPECT_EQ(p.clipnorm, o.clipnorm);
    EXPECT_EQ(p.schedule.has_value(), o.schedule.has_value());
    if (o.schedule)
      for (int64_t step : {0, 3, 7, 12, 50, 200})
        EXPECT_DOUBLE_EQ(p.learningRateAt(step), o.learningRateAt(step)) << o.name;
  }
}

TEST_F(TrainingFiles, ReadsTfKeras2AndKeras3Spellings) {
  // tf.keras 2.15: "Custom>Adam", Keras 2 optimizer keys, metrics nested per output.
  Model a = mlp();
  compile_from_training_config(a, json::parse(R"({
    "loss": "categorical_crossentropy",
    "metrics": [[{"class_name": "MeanMetricWrapper",
                  "config": {"name": "accuracy", "dtype": "float32", "fn": "categorical_accuracy"}}]],
    "weighted_metrics": null, "loss_weights": null,
    "optimizer_config": {"class_name": "Custom>Adam", "config": {
      "name": "Adam", "weight_decay": null, "clipnorm": null, "global_clipnorm": null,
      "clipvalue": null, "use_ema": false, "ema_momentum": 0.99, "ema_overwrite_frequency": null,
      "jit_compile": true, "is_legacy_optimizer": false, "learning_rate": 0.0010000000474974513,
      "beta_1": 0.8, "beta_2": 0.999, "epsilon": 1e-07, "amsgrad": false}}})"));
  EXPECT_EQ(a.optimizer().name, "adam");
  EXPECT_DOUBLE_EQ(a.optimizer().beta_1, 0.8);
  EXPECT_EQ(a.metrics_names(), (std::vector<std::string>{"loss", "accuracy"}));

  // tf.keras 2.4: legacy "lr" and "decay".
  Model b = mlp();
  compile_from_training_config(b, json::parse(R"({"loss": "mse", "metrics": ["mae"],
    "optimizer_config": {"class_name": "SGD", "config": {"name": "SGD", "lr": 0.05,
      "decay": 0.0, "momentum": 0.9, "nesterov": false}}})"));
  EXPECT_DOUBLE_EQ(b.optimizer().learning_rate, 0.05);
  EXPECT_DOUBLE_EQ(b.optimizer().momentum, 0.9);

  // Keras 3: a serialized loss object and schedule, per-output dicts.
  auto i1 = Input({4});
  auto h = Dense(4)(i1);
  Model c({i1}, {Dense(2, {.name = "left"})(h), Dense(2, {.name = "right"})(h)});
  compile_from_training_config(c, json::parse(R"({
    "loss": {"left": {"module": "keras.losses", "class_name": "Huber",
                      "config": {"name": "huber_loss", "reduction": "sum_over_batch_size",
                                 "delta": 2.0}, "registered_name": null},
             "right": "mean_squared_error"},
    "loss_weights": null,
    "metrics": {"left": ["mae"], "right": ["mae"]},
    "weighted_metrics": null, "run_eagerly": false, "steps_per_execution": 1,
    "jit_compile": false,
    "optimizer_config": {"class_name": "RMSprop", "config": {"name": "rmsprop",
      "learning_rate": {"module": "keras.optimizers.schedules", "class_name": "ExponentialDecay",
                        "config": {"initial_learning_rate": 0.1, "decay_steps": 4,
                                   "decay_rate": 0.5, "staircase": false,
                                   "name": "ExponentialDecay"}, "registered_name": null},
      "weight_decay": null, "clipnorm": null, "global_clipnorm": null, "clipvalue": null,
      "use_ema": false, "ema_momentum": 0.99, "ema_overwrite_frequency": null,
      "loss_scale_factor": null, "gradient_accumulation_steps": null,
      "rho": 0.9, "momentum": 0.0, "epsilon": 1e-07, "centered": false}}})"));
  EXPECT_EQ(c.metrics_names(), (std::vector<std::string>{"loss", "left_mae", "right_mae"}));
  ASSERT_TRUE(c.optimizer().schedule);
  EXPECT_DOUBLE_EQ(c.optimizer().learningRateAt(4), 0.05);
  json back = training_config(c);
  ASSERT_TRUE(back["loss"].is_array());
  EXPECT_EQ(back["loss"][0]["class_name"], "Huber");
  EXPECT_EQ(back["loss"][0]["config"]["delta"], 2.0);
  EXPECT_EQ(back["loss"][1], "mean_squared_error");
}

TEST_F(TrainingFiles, MalformedTrainingConfigErrorsNameTheKey) {
  auto bad = [&](const std::string &text, std::vector<std::string> want) {
    Model m = mlp();
    expectError([&] { compile_from_training_config(m, json::parse(text)); }, want);
  };
  const std::string adam = R"("optimizer_config": {"class_name": "Adam", "config": {}})";
  bad("[]", {"training_config", "expected a JSON object"});
  bad(R"({"loss": "mse"})", {"optimizer_config", "missing"});
  bad("{" + adam + "}", {"training_config: loss: missing"});
  bad(R"({"loss": "mse", "optimizer_config": {"class_name": "Lion", "config": {}}})",
      {"optimizer_config.class_name", "unknown optimizer 'lion'"});
  bad(R"({"loss": "mse", "optimizer_config": "adam"})", {"optimizer_config", "class_name"});
  bad(R"({"loss": "mse", "optimizer_config": {"class_name": "Adam", "config":
        {"learning_rate": "fast"}}})",
      {"optimizer_config.config.learning_rate", "expected a number"});
  bad(R"({"loss": "mse", "optimizer_config": {"class_name": "Adam", "config":
        {"learning_rate": {"class_name": "InverseTimeDecay", "config": {}}}}})",
      {"learning_rate", "no learning-rate schedule 'InverseTimeDecay'"});
  bad(R"({"loss": "mse", "optimizer_config": {"class_name": "Adam", "config":
        {"weight_decay": 0.1}}})",
      {"optimizer_config.config.weight_decay", "AdamW only"});
  bad(R"({"loss": "mse", "optimizer_config": {"class_name": "Adam", "config":
        {"use_ema": true}}})",
      {"use_ema"});
  bad(R"({"loss": "mse", "optimizer_config": {"class_name": "Adam", "config":
        {"momentum_of_doom": 1}}})",
      {"optimizer_config.config.momentum_of_doom", "no option"});
  bad(R"({"loss": "wasserstein", )" + adam + "}", {"training_config: loss", "unknown loss"});
  bad(R"({"loss": ["mse", "mae"], )" + adam + "}", {"a list of 2 losses", "1 outputs"});
  bad(R"({"loss": {"class_name": "CategoricalCrossentropy",
        "config": {"label_smoothing": 0.1}}, )" + adam + "}",
      {"loss.config.label_smoothing", "not supported"});
  bad(R"({"loss": "mse", "loss_weights": [0.5], )" + adam + "}", {"loss_weights"});
  bad(R"({"loss": "mse", "metrics": ["f1_score"], )" + adam + "}",
      {"metrics", "unknown metric 'f1_score'"});
  bad(R"({"loss": "mse", "metrics": "mae", )" + adam + "}", {"metrics", "expected a list"});
  bad(R"({"loss": "mse", "weighted_metrics": ["mae"], )" + adam + "}", {"weighted_metrics"});

  // In a file: the error names the file and the attribute.
  Model m = mlp();
  m.compile({.optimizer = "adam", .loss = "mse"});
  m.save(tmp("m.h5"));
  setRootAttr(tmp("m.h5"), "training_config", "{\"loss\": ");
  expectError([&] { load_model(tmp("m.h5")); }, {"m.h5", "training_config", "malformed JSON"});
  setRootAttr(tmp("m.h5"), "training_config", R"({"loss": "mse", "optimizer_config":
      {"class_name": "Adam", "config": {"beta_1": "x"}}})");
  expectError([&] { load_model(tmp("m.h5")); },
              {"m.h5", "training_config: optimizer_config.config.beta_1", "expected a number"});
  EXPECT_NO_THROW(load_model(tmp("m.h5"), {.compile = false}));
}

/// fit for 2 epochs at once equals fit 1 epoch, save, load, fit 1 epoch (shuffle off).
/// `alsoH5`: the state after the first epoch is saved there too, for a layout check.
void expectResumeExact(const optimizers::Optimizer &opt, bool dropout, const std::string &path,
                       const std::string &alsoH5 = "") {
  auto [x, y] = data(96);
  Model once = mlp(dropout);
  Model twice = model_from_json(once.to_json());
  twice.set_weights(once.get_weights());
  CompileOptions co{.optimizer = opt, .loss = "categorical_crossentropy",
                    .metrics = {"accuracy"}};
  once.compile(co);
  twice.compile(co);
  FitOptions fo{.batch_size = 16, .epochs = 2, .verbose = 0, .shuffle = false};
  once.fit(x, y, fo);

  fo.epochs = 1;
  twice.fit(x, y, fo);
  twice.save(path);
  if (!alsoH5.empty())
    twice.save(alsoH5);
  backend::clear_session();
  Model resumed = load_model(path);
  EXPECT_EQ(resumed.iterations(), 6) << opt.name;
  resumed.fit(x, y, fo);
  EXPECT_EQ(resumed.iterations(), 12);
  auto a = once.get_weights(), b = resumed.get_weights();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    for (int64_t j = 0; j < a[i].size(); ++j)
      ASSERT_NEAR(a[i].data[j], b[i].data[j], 1e-6) << opt.name << " weight " << i << "[" << j
                                                    << "]";
}

TEST_F(TrainingFiles, ResumedFitContinuesExactly) {
  expectResumeExact(optimizers::Adam(0.01), false, tmp("adam.h5"));
  expectResumeExact(optimizers::Adam(0.01, {.amsgrad = true}), true, tmp("amsgrad.h5"));
  expectResumeExact(optimizers::Nadam(0.01), false, tmp("nadam.h5"));
  expectResumeExact(optimizers::RMSprop(0.01, {.momentum = 0.5, .centered = true}), false,
                    tmp("rmsprop.h5"));
  expectResumeExact(optimizers::SGD(optimizers::schedules::ExponentialDecay(0.1, 3, 0.5), {.momentum = 0.9}),
                    false, tmp("sgd.h5"));
  expectResumeExact(optimizers::Ftrl(0.1), false, tmp("ftrl.h5"));
}

/// A resumed fit from a .keras archive continues exactly; and check_keras_archive.py finds
/// each optimizer's variables in the order its Keras 3 build() creates them, by comparing
/// the archive with the .h5 of the same state.
TEST_F(TrainingFiles, ResumedFitFromKerasArchiveContinuesExactly) {
  bool python = std::system("/usr/bin/python3 -c 'import h5py' 2>/dev/null") == 0;
  int k = 0;
  for (const auto &[opt, dropout] : std::vector<std::pair<optimizers::Optimizer, bool>>{
           {optimizers::Adam(0.01, {.amsgrad = true}), true},
           {optimizers::Nadam(0.01), false},
           {optimizers::RMSprop(0.01, {.momentum = 0.5, .centered = true}), false},
           {optimizers::SGD(optimizers::schedules::ExponentialDecay(0.1, 3, 0.5), {.momentum = 0.9}), false}}) {
    std::string base = tmp("m" + std::to_string(k++));
    expectResumeExact(opt, dropout, base + ".keras", base + ".h5");
    if (!python)
      continue;
    std::string cmd = "/usr/bin/python3 " KILN_FILES_SCRIPTS "/check_keras_archive.py " + base +
                      ".keras " + base + ".h5 >/dev/null";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << opt.name << ": " << cmd;
  }
}

TEST_F(TrainingFiles, KerasArchiveStateThatDoesNotFitStartsAfresh) {
  auto [x, y] = data(32);
  Model m = mlp();
  m.compile({.optimizer = "adam", .loss = "categorical_crossentropy"});
  m.fit(x, y, {.batch_size = 16, .epochs = 1, .verbose = 0});
  m.save(tmp("m.keras"));
  Model back = load_model(tmp("m.keras"));
  EXPECT_EQ(back.iterations(), 2);
  EXPECT_EQ(back.optimizer().name, "adam");
  EXPECT_EQ(training_config(back), training_config(m));
  // The archive's Adam variables do not fit an RMSprop (compile_config edited).
  if (std::system("/usr/bin/python3 -c 'import zipfile' 2>/dev/null") == 0) {
    std::string edit = R"(/usr/bin/python3 -c '
import json, sys, zipfile
src = zipfile.ZipFile(sys.argv[1])
c = json.loads(src.read("config.json"))
c["compile_config"]["optimizer"] = {"module": "keras.optimizers", "class_name": "RMSprop",
                                    "config": {}, "registered_name": None}
with zipfile.ZipFile(sys.argv[2], "w") as dst:
    for n in src.namelist():
        dst.writestr(n, json.dumps(c) if n == "config.json" else src.read(n))
' )" + tmp("m.keras") + " " + tmp("r.keras");
    ASSERT_EQ(std::system(edit.c_str()), 0);
    Model fresh = load_model(tmp("r.keras"));
    EXPECT_EQ(fresh.optimizer().name, "rmsprop");
    EXPECT_EQ(fresh.iterations(), 0);
  }
  Model plain = load_model(tmp("m.keras"), {.compile = false});
  expectError([&] { plain.optimizer(); }, {"compile() first"});
}

TEST_F(TrainingFiles, OptimizerWeightsHaveTfKeras2NamesInH5py) {
  if (std::system("/usr/bin/python3 -c 'import h5py' 2>/dev/null") != 0)
    GTEST_SKIP() << "no /usr/bin/python3 with h5py";
  auto [x, y] = data(32);
  Model m = mlp();
  m.compile({.optimizer = "adam", .loss = "categorical_crossentropy", .metrics = {"accuracy"}});
  m.fit(x, y, {.batch_size = 16, .epochs = 1, .verbose = 0});
  m.save(tmp("m.h5"));
  std::string check = R"(/usr/bin/python3 -c '
import json, sys, h5py
f = h5py.File(sys.argv[1], "r")
tc = json.loads(f.attrs["training_config"])
assert tc["loss"] == "categorical_crossentropy" and tc["metrics"] == ["accuracy"], tc
assert tc["optimizer_config"]["class_name"] == "Adam", tc
ow = f["optimizer_weights"]
names = [n.decode() for n in ow.attrs["weight_names"]]
assert names[0] == "Adam/iter:0" and int(ow["Adam/iter:0"][()]) == 2, names
assert names[1:5] == ["Adam/dense/kernel/m:0", "Adam/dense/bias/m:0",
                      "Adam/dense_1/kernel/m:0", "Adam/dense_1/bias/m:0"], names
assert names[5] == "Adam/dense/kernel/v:0" and len(names) == 9, names
assert ow["Adam/dense/kernel/m:0"].shape == (4, 8) and ow["Adam/dense/kernel/m:0"].dtype == "float32"
' )" + tmp("m.h5");
  EXPECT_EQ(std::system(check.c_str()), 0);
}

TEST_F(TrainingFiles, LoadsTfKeras2OptimizerState) {
  // make_keras_files.py writes tf.keras 2.x's Adam/iter:0 and Adam/<layer>/<weight>/{m,v}:0.
  Model m = load_model(kInputs + "/keras2_mlp.h5");
  EXPECT_EQ(m.optimizer().name, "adam");
  EXPECT_EQ(m.metrics_names(), (std::vector<std::string>{"loss", "accuracy"}));
  EXPECT_EQ(m.iterations(), 3);
  // A file without training_config loads uncompiled.
  Model plain = load_model(kInputs + "/keras2_cnn.h5");
  expectError([&] { plain.optimizer(); }, {"compile() first"});
}

TEST_F(TrainingFiles, StateThatDoesNotFitStartsAfresh) {
  // Keras warns and starts a fresh optimizer when the saved variables do not fit the
  // compiled optimizer; so does kiln.
  auto [x, y] = data(32);
  Model m = mlp();
  m.compile({.optimizer = "adam", .loss = "categorical_crossentropy"});
  m.fit(x, y, {.batch_size = 16, .epochs = 1, .verbose = 0});
  m.save(tmp("m.h5"));
  setRootAttr(tmp("m.h5"), "training_config", R"({"loss": "categorical_crossentropy",
      "optimizer_config": {"class_name": "RMSprop", "config": {}}})");
  Model back = load_model(tmp("m.h5"));
  EXPECT_EQ(back.optimizer().name, "rmsprop");
  EXPECT_EQ(back.iterations(), 0);
}

TEST_F(TrainingFiles, RecompileKeepsStateOnlyWhenAsked) {
  auto [x, y] = data(32);
  Model m = mlp();
  m.compile({.optimizer = "adam", .loss = "categorical_crossentropy"});
  m.fit(x, y, {.batch_size = 16, .epochs = 1, .verbose = 0});
  json c = training_config(m);
  c["metrics"] = {"accuracy"};
  compile_from_training_config(m, c, /*keep_optimizer_state=*/true);
  EXPECT_EQ(m.iterations(), 2);
  compile_from_training_config(m, c);
  EXPECT_EQ(m.iterations(), 0);
}

} // namespace
