//===- FilesTest.cpp - Keras JSON configs, .h5 models and weights, .keras archives -===//
//
// The files under Inputs/ come from make_keras_files.py in Keras' exact layouts (tf.keras 2.x
// full model and weights-only, Keras 3 legacy h5, Keras 3 .keras) with expected outputs from
// the Keras oracle (make_oracle_outputs.py); the bad_* files each carry one defect. The tfjs_*
// files come from make_tfjs_files.mjs.
//
//===----------------------------------------------------------------------===//
#include "kiln/Npy.h"
#include "kiln/kiln.h"

#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>

using namespace kiln;
using namespace kiln::layers;
using json = nlohmann::json;

namespace {

const std::string kInputs = KILN_FILES_INPUTS;
std::string input(const std::string &name) { return kInputs + "/" + name; }

class Files : public ::testing::Test {
protected:
  void SetUp() override {
    backend::clear_session();
    dir = std::filesystem::temp_directory_path() /
          ("kiln-files-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir);
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  std::string tmp(const std::string &name) const { return (dir / name).string(); }
  std::filesystem::path dir;
};

Array random(std::vector<int64_t> shape, unsigned seed) {
  Array a(std::move(shape));
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(-1, 1);
  for (float &v : a.data)
    v = d(g);
  return a;
}

void expectNear(const Array &got, const Array &want) {
  ASSERT_EQ(got.shape, want.shape);
  float scale = 1;
  for (float w : want.data)
    scale = std::max(scale, std::fabs(w));
  for (int64_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got.data[i], want.data[i], 1e-5f * scale) << "flat index " << i;
}

/// x0, x1, ... and y0, y1, ... from an .io.h5 file written by make_keras_files.py.
std::vector<Array> readIo(const std::string &name, char prefix) {
  std::vector<Array> out;
  hid_t f = H5Fopen(input(name + ".io.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  EXPECT_GE(f, 0);
  for (int i = 0;; ++i) {
    std::string ds = std::string(1, prefix) + std::to_string(i);
    if (H5Lexists(f, ds.c_str(), H5P_DEFAULT) <= 0)
      break;
    hid_t d = H5Dopen2(f, ds.c_str(), H5P_DEFAULT);
    hid_t s = H5Dget_space(d);
    hsize_t dims[8];
    int rank = H5Sget_simple_extent_dims(s, dims, nullptr);
    Array a(std::vector<int64_t>(dims, dims + rank));
    H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, a.ptr());
    H5Sclose(s);
    H5Dclose(d);
    out.push_back(std::move(a));
  }
  H5Fclose(f);
  return out;
}

void expectPredicts(const Model &m, const std::string &io) {
  auto xs = readIo(io, 'x'), ys = readIo(io, 'y');
  ASSERT_FALSE(xs.empty());
  auto got = m.predict(xs);
  ASSERT_EQ(got.size(), ys.size());
  for (size_t i = 0; i < ys.size(); ++i)
    expectNear(got[i], ys[i]);
}

/// Runs `f`, expects a kiln::Error whose what() contains every one of `texts`.
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

Model mlp() {
  auto in = Input({4});
  auto x = Dense(8, {.activation = "relu", .kernel_initializer = initializers::HeNormal(7)})(in);
  x = Dropout(0.5)(x);
  auto out = Dense(3, {.activation = "softmax"})(x);
  return Model(in, out);
}

Model twoInTwoOut() {
  auto a = Input({4}), b = Input({3});
  auto x = Dense(5, {.activation = "tanh"})(a);
  auto y = Dense(5)(b);
  auto s = Add()({x, y});
  auto c = Concatenate()({s, b});
  auto r = Flatten()(Reshape({2, 4})(c));
  auto o1 = Dense(2, {.activation = "sigmoid"})(r);
  auto o2 = Activation("relu")(s);
  return Model({a, b}, {o1, o2});
}

Sequential cnn() {
  return Sequential({Input({8, 8, 2}),
                     Conv2D(3, 3, {.strides = {1, 1}, .padding = "same", .activation = "relu"}),
                     MaxPooling2D({2, 2}),
                     Conv2D(2, {2, 2}, {.dilation_rate = {1, 1}}),
                     AveragePooling2D({2, 2}, {.strides = {1, 1}}),
                     Flatten(),
                     Dense(2, {.kernel_initializer = initializers::RandomUniform(-0.1, 0.1, 3)})});
}

//===----------------------------------------------------------------------===//
// JSON configs.
//===----------------------------------------------------------------------===//

void expectSameModel(const Model &a, const Model &b, const std::vector<Array> &xs) {
  EXPECT_EQ(a.summary_string(), b.summary_string());
  Model copy = b;
  copy.set_weights(a.get_weights());
  auto ya = a.predict(xs), yb = copy.predict(xs);
  ASSERT_EQ(ya.size(), yb.size());
  for (size_t i = 0; i < ya.size(); ++i)
    expectNear(yb[i], ya[i]);
}

TEST_F(Files, SequentialConfigRoundTripsInBothSpellings) {
  Model m = cnn();
  for (bool keras2 : {false, true}) {
    backend::clear_session();
    Model back = model_from_json(m.to_json(-1, keras2));
    expectSameModel(m, back, {random({3, 8, 8, 2}, 1)});
    EXPECT_EQ(back.to_json(2, keras2), m.to_json(2, keras2));
  }
}

TEST_F(Files, FunctionalConfigRoundTripsInBothSpellings) {
  Model m = twoInTwoOut();
  for (bool keras2 : {false, true}) {
    backend::clear_session();
    Model back = model_from_json(m.to_json(-1, keras2));
    expectSameModel(m, back, {random({5, 4}, 2), random({5, 3}, 3)});
    EXPECT_EQ(back.to_json(-1, keras2), m.to_json(-1, keras2));
  }
}

TEST_F(Files, Keras3SpellingHasPoliciesModulesAndKerasTensors) {
  json j = json::parse(twoInTwoOut().to_json());
  EXPECT_EQ(j["class_name"], "Functional");
  const json &dense = j["config"]["layers"][2];
  EXPECT_EQ(dense["module"], "keras.layers");
  EXPECT_EQ(dense["config"]["dtype"]["class_name"], "DTypePolicy");
  EXPECT_EQ(dense["config"]["kernel_initializer"]["class_name"], "GlorotUniform");
  EXPECT_EQ(dense["config"]["kernel_initializer"]["module"], "keras.initializers");
  EXPECT_EQ(dense["inbound_nodes"][0]["args"][0]["class_name"], "__keras_tensor__");
  EXPECT_EQ(dense["inbound_nodes"][0]["args"][0]["config"]["keras_history"],
            json::array({"input_1", 0, 0}));
  const json &add = j["config"]["layers"][4];
  EXPECT_EQ(add["class_name"], "Add");
  EXPECT_EQ(add["inbound_nodes"][0]["args"][0].size(), 2u); // merges take one list
  EXPECT_EQ(j["config"]["layers"][0]["config"]["batch_shape"], json::array({nullptr, 4}));
}

TEST_F(Files, Keras2SpellingHasBatchInputShapeAndNestedLists) {
  json j = json::parse(mlp().to_json(-1, /*keras2=*/true));
  const json &layers = j["config"]["layers"];
  EXPECT_EQ(layers[0]["config"]["batch_input_shape"], json::array({nullptr, 4}));
  EXPECT_EQ(layers[1]["inbound_nodes"], json::parse(R"([[["input_1", 0, 0, {}]]])"));
  EXPECT_EQ(layers[1]["config"]["dtype"], "float32");
  EXPECT_EQ(layers[1]["config"]["kernel_initializer"],
            json::parse(R"({"class_name": "HeNormal", "config": {"seed": 7}})"));
  EXPECT_EQ(j["config"]["output_layers"], json::parse(R"([["dense_1", 0, 0]])"));
}

TEST_F(Files, LayerGetConfigHasKerasKeysAndDefaults) {
  Model m = cnn();
  json conv = m.layers()[0].get_config();
  EXPECT_EQ(conv["filters"], 3);
  EXPECT_EQ(conv["kernel_size"], json::array({3, 3}));
  EXPECT_EQ(conv["padding"], "same");
  EXPECT_EQ(conv["data_format"], "channels_last");
  EXPECT_EQ(conv["dilation_rate"], json::array({1, 1}));
  EXPECT_EQ(conv["groups"], 1);
  EXPECT_TRUE(conv["kernel_regularizer"].is_null());
  json pool = m.layers()[3].get_config();
  EXPECT_EQ(pool["pool_size"], json::array({2, 2}));
  EXPECT_EQ(pool["strides"], json::array({1, 1}));
  json dense = m.layers()[5].get_config();
  EXPECT_EQ(dense["kernel_initializer"]["config"],
            json::parse(R"({"minval": -0.1, "maxval": 0.1, "seed": 3})"));
  Layer d = layer_from_config({{"class_name", "Dense"}, {"config", dense}});
  EXPECT_EQ(d.get_config(), dense);
}

TEST_F(Files, ReadsKeras2SequentialWithoutShapeAsUnbuilt) {
  Model m = model_from_json(R"({"class_name": "Sequential", "config": {"name": "s", "layers": [
      {"class_name": "Dense", "config": {"name": "d", "units": 2, "activation": "relu"}}]}})");
  EXPECT_EQ(m.layers().size(), 1u);
  EXPECT_EQ(m.predict(random({2, 5}, 4)).shape, (std::vector<int64_t>{2, 2}));
}

TEST_F(Files, ReadsStringInitializersAndOldVarianceScaling) {
  Model m = model_from_json(R"({"class_name": "Sequential", "config": {"layers": [
      {"class_name": "InputLayer", "config": {"batch_input_shape": [null, 3], "name": "in"}},
      {"class_name": "Dense", "config": {"name": "d", "units": 2, "kernel_initializer":
        {"class_name": "VarianceScaling", "config": {"scale": 2.0, "mode": "fan_in",
         "distribution": "truncated_normal", "seed": 5}}, "bias_initializer": "ones"}}]}})");
  json c = m.layers()[0].get_config();
  EXPECT_EQ(c["kernel_initializer"]["class_name"], "HeNormal");
  EXPECT_EQ(c["bias_initializer"]["class_name"], "Ones");
}

//===----------------------------------------------------------------------===//
// Keras' files.
//===----------------------------------------------------------------------===//

TEST_F(Files, LoadsTfKeras2SequentialMlp) {
  Model m = load_model(input("keras2_mlp.h5"));
  EXPECT_EQ(m.name(), "sequential");
  EXPECT_EQ(m.count_params(), 4 * 8 + 8 + 8 * 3 + 3);
  EXPECT_NE(m.summary_string().find("dense_1 (Dense)"), std::string::npos);
  expectPredicts(m, "keras2_mlp");
}

TEST_F(Files, LoadsTfKeras2CnnWithBatchInputShapeOnFirstLayer) {
  Model m = load_model(input("keras2_cnn.h5"));
  EXPECT_EQ(m.inputs()[0].shape(), (std::vector<int64_t>{-1, 6, 6, 2}));
  expectPredicts(m, "keras2_cnn");
}

TEST_F(Files, LoadsTfKeras2FunctionalWithTwoInputsAndOutputs) {
  Model m = load_model(input("keras2_functional.h5"));
  EXPECT_EQ(m.inputs().size(), 2u);
  EXPECT_EQ(m.outputs().size(), 2u);
  expectPredicts(m, "keras2_functional");
}

TEST_F(Files, LoadsKeras3LegacyH5Functional) {
  Model m = load_model(input("keras3_functional.h5"));
  EXPECT_EQ(m.inputs()[0].name(), "input_layer");
  expectPredicts(m, "keras3_functional");
}

TEST_F(Files, LoadsKeras3LegacyH5Sequential) {
  expectPredicts(load_model(input("keras3_mlp.h5")), "keras3_mlp");
}

TEST_F(Files, LoadsKeras3Archive) {
  expectPredicts(load_model(input("keras3_mlp.keras")), "keras3_mlp");
}

TEST_F(Files, LoadsWeightsOnlyFileWithItsConfig) {
  Model m = load_model(input("keras2_mlp_config.json"), input("keras2_mlp_weights.h5"));
  expectPredicts(m, "keras2_mlp");
}

TEST_F(Files, SaveThenLoadGivesSameWeightsAndPredictions) {
  for (Model m : {mlp(), twoInTwoOut(), Model(cnn())}) {
    m.save(tmp("m.h5"));
    backend::clear_session();
    Model back = load_model(tmp("m.h5"));
    EXPECT_EQ(back.summary_string(), m.summary_string());
    auto a = m.get_weights(), b = back.get_weights();
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].shape, b[i].shape);
      EXPECT_EQ(a[i].data, b[i].data);
    }
    std::vector<Array> xs;
    for (const Tensor &t : m.inputs()) {
      auto s = t.shape();
      s[0] = 4;
      xs.push_back(random(s, 9));
    }
    auto ya = m.predict(xs), yb = back.predict(xs);
    for (size_t i = 0; i < ya.size(); ++i)
      EXPECT_EQ(ya[i].data, yb[i].data);
  }
  for (auto &e : std::filesystem::directory_iterator(dir))
    EXPECT_EQ(e.path().filename(), "m.h5") << "left behind: " << e.path();
}

/// What kiln writes has Keras' layout as h5py sees it (Keras' own loader reads the same way).
TEST_F(Files, SavedFileHasKerasLayoutInH5py) {
  if (std::system("/usr/bin/python3 -c 'import h5py' 2>/dev/null") != 0)
    GTEST_SKIP() << "no /usr/bin/python3 with h5py";
  twoInTwoOut().save(tmp("m.h5"));
  std::string check = R"(/usr/bin/python3 -c '
import json, sys, h5py
f = h5py.File(sys.argv[1], "r")
cfg = json.loads(f.attrs["model_config"])
assert cfg["class_name"] == "Functional", cfg["class_name"]
assert f.attrs["keras_version"] and f.attrs["backend"]
mw = f["model_weights"]
names = [n.decode() for n in mw.attrs["layer_names"]]
assert names[:2] == ["input_1", "input_2"] and len(names) == 10, names
for n in names:
    wn = [w.decode() for w in mw[n].attrs["weight_names"]]
    for w in wn:
        assert mw[n][w].dtype == "float32"
assert list(mw["dense"].attrs["weight_names"]) == [b"dense/kernel:0", b"dense/bias:0"]
assert mw["dense"]["dense/kernel:0"].shape == (4, 5)
' )" + tmp("m.h5");
  EXPECT_EQ(std::system(check.c_str()), 0);
}

TEST_F(Files, SaveWeightsLoadWeightsByNameAndByPosition) {
  Model a = mlp();
  a.save_weights(tmp("w.h5"));
  Model same = model_from_json(a.to_json()); // same names: matched by name
  same.load_weights(tmp("w.h5"));
  EXPECT_EQ(same.get_weights()[0].data, a.get_weights()[0].data);
  backend::clear_session();
  auto in = Input({4});
  auto hidden = Dense(8, {.activation = "relu", .name = "other"})(in);
  auto out = Dense(3, {.activation = "softmax", .name = "other_1"})(Dropout(0.5)(hidden));
  Model renamed(in, out); // other names: matched by position, as Keras does
  renamed.load_weights(tmp("w.h5"));
  EXPECT_EQ(renamed.get_weights()[2].data, a.get_weights()[2].data);
  // A full-model file works for load_weights too.
  a.save(tmp("m.h5"));
  renamed.load_weights(tmp("m.h5"));
  EXPECT_EQ(renamed.get_weights()[3].data, a.get_weights()[3].data);
}

TEST_F(Files, LoadWeightsShapeMismatchChangesNothing) {
  Model a = mlp();
  a.save_weights(tmp("w.h5"));
  backend::clear_session();
  auto in = Input({4});
  auto hidden = Dense(9)(in);
  auto out = Dense(3)(Dropout(0.5)(hidden));
  Model b(in, out);
  auto before = b.get_weights();
  expectError([&] { b.load_weights(tmp("w.h5")); },
              {"w.h5", "dense", "has shape (4, 8)", "has shape (4, 9)"});
  EXPECT_EQ(b.get_weights()[0].data, before[0].data);
}

TEST_F(Files, SaveIntoMissingDirectoryFailsCleanly) {
  expectError([&] { mlp().save(tmp("no/such/dir/m.h5")); }, {"m.h5", "cannot create"});
}

TEST_F(Files, SaveOverwritesAtomically) {
  Model a = mlp();
  a.save(tmp("m.h5"));
  Model b = twoInTwoOut();
  b.save(tmp("m.h5"));
  EXPECT_EQ(load_model(tmp("m.h5")).inputs().size(), 2u);
}

TEST_F(Files, KerasArchiveRoundTripIsBitwise) {
  for (Model m : {mlp(), twoInTwoOut(), Model(cnn())}) {
    m.save(tmp("m.keras"));
    backend::clear_session();
    Model back = load_model(tmp("m.keras"));
    EXPECT_EQ(back.to_json(), m.to_json());
    auto a = m.get_weights(), b = back.get_weights();
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].shape, b[i].shape);
      EXPECT_EQ(a[i].data, b[i].data);
    }
    std::vector<Array> xs;
    for (const Tensor &t : m.inputs()) {
      auto s = t.shape();
      s[0] = 4;
      xs.push_back(random(s, 9));
    }
    auto ya = m.predict(xs), yb = back.predict(xs);
    for (size_t i = 0; i < ya.size(); ++i)
      EXPECT_EQ(ya[i].data, yb[i].data);
    expectError([&] { back.optimizer(); }, {"compile() first"});
  }
  for (auto &e : std::filesystem::directory_iterator(dir))
    EXPECT_EQ(e.path().filename(), "m.keras") << "left behind: " << e.path();
}

/// check_keras_archive.py compares an archive with the .h5 of the same model, in the places
/// Keras 3's saving_lib puts each variable.
void expectKeras3Layout(const Model &m, const std::string &base) {
  m.save(base + ".keras");
  m.save(base + ".h5");
  std::string cmd = "/usr/bin/python3 " KILN_FILES_SCRIPTS "/check_keras_archive.py " + base +
                    ".keras " + base + ".h5";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

TEST_F(Files, KerasArchiveHasKeras3Layout) {
  if (std::system("/usr/bin/python3 -c 'import h5py' 2>/dev/null") != 0)
    GTEST_SKIP() << "no /usr/bin/python3 with h5py";
  expectKeras3Layout(mlp(), tmp("mlp"));
  expectKeras3Layout(twoInTwoOut(), tmp("functional"));
  expectKeras3Layout(cnn(), tmp("cnn"));
}

TEST_F(Files, KerasArchiveBadInput) {
  // Members missing or broken: errors naming the archive and the member.
  auto zipWith = [&](const std::string &name,
                     std::vector<std::pair<std::string, std::string>> members) {
    std::string path = tmp(name);
    std::string py = "/usr/bin/python3 -c 'import sys, zipfile\n"
                     "z = zipfile.ZipFile(sys.argv[1], \"w\")\n"
                     "for i in range(2, len(sys.argv), 2): z.write(sys.argv[i + 1], sys.argv[i])\n' " +
                     path;
    for (auto &[member, file] : members)
      py += " " + member + " " + file;
    EXPECT_EQ(std::system(py.c_str()), 0);
    return path;
  };
  if (std::system("/usr/bin/python3 -c 'import zipfile' 2>/dev/null") != 0)
    GTEST_SKIP() << "no /usr/bin/python3";
  Model m = mlp();
  m.compile({.optimizer = "adam", .loss = "categorical_crossentropy"});
  m.save(tmp("good.keras"));
  std::string unzip = "cd " + dir.string() +
                      " && /usr/bin/python3 -c 'import zipfile; zipfile.ZipFile(\"good.keras\").extractall(\"x\")'";
  ASSERT_EQ(std::system(unzip.c_str()), 0);
  std::string x = tmp("x");
  expectError([&] { load_model(zipWith("noweights.keras", {{"config.json", x + "/config.json"}})); },
              {"noweights.keras", "no 'model.weights.h5'"});
  expectError([&] { load_model(zipWith("noconfig.keras", {{"model.weights.h5", x + "/model.weights.h5"}})); },
              {"noconfig.keras", "no 'config.json'"});
  std::ofstream(tmp("junk.h5")) << "not hdf5";
  expectError([&] {
    load_model(zipWith("junkweights.keras", {{"config.json", x + "/config.json"},
                                             {"model.weights.h5", tmp("junk.h5")}}));
  }, {"junkweights.keras: model.weights.h5", "not an HDF5 file"});
  // A compile_config kiln cannot honour names the key; compile=false skips it.
  {
    std::ifstream in(x + "/config.json");
    json c = json::parse(in);
    c["compile_config"]["optimizer"]["config"]["beta_1"] = "x";
    std::ofstream(tmp("badcompile.json")) << c.dump();
  }
  std::string bad = zipWith("badcompile.keras", {{"config.json", tmp("badcompile.json")},
                                                 {"model.weights.h5", x + "/model.weights.h5"}});
  expectError([&] { load_model(bad); }, {"badcompile.keras: config.json: compile_config",
                                         "optimizer_config.config.beta_1", "expected a number"});
  EXPECT_NO_THROW(load_model(bad, {.compile = false}));
}

//===----------------------------------------------------------------------===//
// TensorFlow.js layers models (model.json + shards), made and predicted by tfjs 4.22 (the
// Keras oracle) through make_tfjs_files.mjs.
//===----------------------------------------------------------------------===//

void expectPredictsLikeTfjs(const Model &m, const std::string &name, size_t nIn, size_t nOut) {
  std::vector<Array> xs;
  for (size_t i = 0; i < nIn; ++i)
    xs.push_back(loadNpy(input(name + ".x" + std::to_string(i) + ".npy")));
  auto ys = m.predict(xs);
  ASSERT_EQ(ys.size(), nOut);
  for (size_t i = 0; i < nOut; ++i)
    expectNear(ys[i], loadNpy(input(name + ".y" + std::to_string(i) + ".npy")));
}

TEST_F(Files, LoadsTfjsLayersModel) {
  Model m = load_model(input("tfjs_mlp.json"));
  EXPECT_EQ(m.name(), "tfjs_mlp");
  expectPredictsLikeTfjs(m, "tfjs_mlp", 1, 1);
  // The converter's shape: the Keras config under modelTopology.model_config, one shard.
  expectPredictsLikeTfjs(load_model(input("tfjs_mlp_nested.json")), "tfjs_mlp", 1, 1);
  // Functional, two inputs and two outputs, weights in two groups of two shards.
  expectPredictsLikeTfjs(load_model(input("tfjs_functional.json")), "tfjs_functional", 2, 2);
  // uint8, uint16 and float16 quantized weights, dequantized as tfjs does (the quantization
  // moves the outputs by 4e-5, over the tolerance, so a wrong decoding shows).
  expectPredictsLikeTfjs(load_model(input("tfjs_mlp_quant.json")), "tfjs_mlp_quant", 1, 1);
}

class TfjsBad : public Files {
protected:
  /// A copy of tfjs_mlp.json and its shards in the test's directory, the manifest edited.
  std::string copy(const std::function<void(json &)> &edit) {
    for (int i = 1; i <= 4; ++i) {
      std::string shard = "tfjs_mlp.group1-shard" + std::to_string(i) + "of4.bin";
      std::filesystem::copy_file(input(shard), dir / shard,
                                 std::filesystem::copy_options::overwrite_existing);
    }
    std::ifstream in(input("tfjs_mlp.json"));
    json doc = json::parse(in);
    edit(doc);
    std::ofstream(tmp("model.json")) << doc.dump();
    return tmp("model.json");
  }
  json &weight(json &doc, size_t i) { return doc["weightsManifest"][0]["weights"][i]; }
  json &paths(json &doc) { return doc["weightsManifest"][0]["paths"]; }
};

TEST_F(TfjsBad, Shards) {
  EXPECT_NO_THROW(load_model(copy([](json &) {})));
  std::filesystem::remove(dir / "tfjs_mlp.group1-shard3of4.bin");
  expectError([&] { load_model(tmp("model.json")); },
              {"model.json: weightsManifest[0].paths[2]",
               "shard file 'tfjs_mlp.group1-shard3of4.bin' is missing"});
  copy([](json &) {});
  std::filesystem::resize_file(dir / "tfjs_mlp.group1-shard4of4.bin", 10);
  expectError([&] { load_model(tmp("model.json")); },
              {"model.json: weightsManifest[0]", "the shards hold 310 bytes", "need 396", "short"});
  // Bytes beyond what the manifest declares are as wrong as missing ones.
  copy([](json &) {});
  std::ofstream(dir / "tfjs_mlp.group1-shard4of4.bin", std::ios::app) << "xxxx";
  expectError([&] { load_model(tmp("model.json")); }, {"the shards hold 400 bytes", "need 396"});
}

TEST_F(TfjsBad, Manifest) {
  // A shape that changes the byte count, and one that keeps it but not the layer's shape.
  expectError([&] { load_model(copy([&](json &d) { weight(d, 0)["shape"] = {4, 9}; })); },
              {"weightsManifest[0]", "the shards hold 396 bytes", "need 412"});
  expectError([&] { load_model(copy([&](json &d) { weight(d, 0)["shape"] = {8, 4}; })); },
              {"layer 'dense'", "weight 'dense/kernel' has shape (8, 4) in the manifest",
               "(4, 8)"});
  expectError([&] { load_model(copy([&](json &d) { weight(d, 0)["shape"] = {-1, 8}; })); },
              {"weights[0] ('dense/kernel')", "is not a list of sizes"});
  expectError([&] {
    load_model(copy([&](json &d) { weight(d, 0)["shape"] = {1 << 30, 1 << 30, 1 << 30}; }));
  }, {"weights[0] ('dense/kernel')", "too large"});
  expectError([&] { load_model(copy([&](json &d) { weight(d, 0)["dtype"] = "int32"; })); },
              {"weights[0] ('dense/kernel')", "dtype 'int32'", "float32"});
  expectError([&] {
    load_model(copy([&](json &d) { weight(d, 0)["quantization"] = {{"dtype", "int8"}}; }));
  }, {"weights[0] ('dense/kernel')", "quantization \"int8\" is not one of uint8, uint16, float16"});
  expectError([&] {
    load_model(copy([&](json &d) { weight(d, 0)["quantization"] = {{"dtype", "uint8"}}; }));
  }, {"weights[0] ('dense/kernel')", "uint8 quantization needs numbers 'scale' and 'min'"});
  expectError([&] { load_model(copy([&](json &d) { weight(d, 0)["name"] = "other/kernel"; })); },
              {"layer 'dense'", "no weight 'dense/kernel'"});
  expectError([&] { load_model(copy([&](json &d) { d.erase("weightsManifest"); })); },
              {"model.json", "no 'weightsManifest'"});
  expectError([&] { load_model(copy([&](json &d) { d["format"] = "graph-model"; })); },
              {"model.json", "not graph models"});
  std::ofstream(tmp("config.json")) << mlp().to_json();
  expectError([&] { load_model(tmp("config.json")); }, {"config.json", "no 'modelTopology'"});
}

TEST_F(TfjsBad, ShardPathsStayInTheDirectory) {
  std::filesystem::create_directories(dir / "sub");
  std::filesystem::copy_file(input("tfjs_mlp.json"), dir / "sub" / "x.json");
  auto inSub = [&](const std::string &path) {
    std::ifstream in(input("tfjs_mlp.json"));
    json doc = json::parse(in);
    doc["weightsManifest"][0]["paths"][0] = path;
    std::ofstream(dir / "sub" / "model.json") << doc.dump();
    return (dir / "sub" / "model.json").string();
  };
  copy([](json &) {});
  expectError([&] { load_model(inSub("../tfjs_mlp.group1-shard1of4.bin")); },
              {"paths[0]", "'../tfjs_mlp.group1-shard1of4.bin' leaves the model's directory"});
  expectError([&] { load_model(inSub(tmp("tfjs_mlp.group1-shard1of4.bin"))); },
              {"paths[0]", "not a plain relative path"});
  std::filesystem::create_symlink(dir / "tfjs_mlp.group1-shard1of4.bin", dir / "sub" / "link.bin");
  expectError([&] { load_model(inSub("link.bin")); }, {"paths[0]", "'link.bin' leaves"});
}

//===----------------------------------------------------------------------===//
// Bad input: a clear kiln::Error naming the file and the place.
//===----------------------------------------------------------------------===//

TEST_F(Files, BadNotHdf5) {
  expectError([] { load_model(input("bad_not_h5.h5")); }, {"bad_not_h5.h5", "not an HDF5 file"});
}
TEST_F(Files, BadMissingFile) {
  expectError([] { load_model(input("nope.h5")); }, {"nope.h5", "cannot open"});
}
TEST_F(Files, BadTruncated) {
  expectError([] { load_model(input("bad_truncated.h5")); },
              {"bad_truncated.h5", "truncated or corrupt"});
}
TEST_F(Files, BadNoModelConfig) {
  expectError([] { load_model(input("bad_no_config.h5")); },
              {"bad_no_config.h5", "missing attribute 'model_config'", "--config"});
}
TEST_F(Files, BadConfigNotString) {
  expectError([] { load_model(input("bad_config_not_string.h5")); },
              {"bad_config_not_string.h5", "'model_config'", "expected a string"});
}
TEST_F(Files, BadConfigJson) {
  expectError([] { load_model(input("bad_config_json.h5")); },
              {"bad_config_json.h5", "model_config", "malformed JSON"});
}
TEST_F(Files, BadWeightShape) {
  expectError([] { load_model(input("bad_shape.h5")); },
              {"layer 'dense'", "bad_shape.h5", "model_weights/dense/dense/kernel:0",
               "has shape (8, 4)", "has shape (4, 8)"});
}
TEST_F(Files, BadWeightDtype) {
  expectError([] { load_model(input("bad_dtype.h5")); },
              {"layer 'dense'", "bad_dtype.h5", "dense/kernel:0", "dtype int32"});
}
TEST_F(Files, BadUnknownLayerClass) {
  expectError([] { load_model(input("bad_unknown_layer.h5")); },
              {"layer 'conv_lstm2d'", "bad_unknown_layer.h5",
               "unknown layer class 'ConvLSTM2D'"});
}
TEST_F(Files, BadWeightCount) {
  expectError([] { load_model(input("bad_weight_count.h5")); },
              {"layer 'dense'", "has 2 weights", "has 1"});
}
TEST_F(Files, BadSoftLink) {
  expectError([] { load_model(input("bad_soft_link.h5")); },
              {"bad_soft_link.h5", "dense/kernel:0", "soft link", "refuses"});
}
TEST_F(Files, BadExternalLink) {
  expectError([] { load_model(input("bad_external_link.h5")); },
              {"bad_external_link.h5", "external link", "refuses"});
}
TEST_F(Files, BadVirtualDataset) {
  expectError([] { load_model(input("bad_virtual.h5")); },
              {"bad_virtual.h5", "dense/kernel:0", "virtual dataset"});
}
TEST_F(Files, BadExternalStorage) {
  expectError([] { load_model(input("bad_external_storage.h5")); },
              {"bad_external_storage.h5", "external files"});
}
TEST_F(Files, BadDatasetDeclaresMoreThanFileHolds) {
  // Checked against the file before anything is allocated (and before the shape check).
  expectError([] { load_model(input("bad_huge_dataset.h5")); },
              {"bad_huge_dataset.h5", "dense/kernel:0", "(32768, 32768)", "file holds"});
}
TEST_F(Files, BadNoLayerNames) {
  expectError([] { load_model(input("bad_no_layer_names.h5")); },
              {"bad_no_layer_names.h5", "missing attribute 'layer_names'"});
}
TEST_F(Files, BadKerasArchive) {
  std::ofstream(tmp("bad.keras")) << "PK\x03\x04 not really a zip";
  expectError([&] { load_model(tmp("bad.keras")); }, {"bad.keras", "zip"});
}
TEST_F(Files, BadJsonNestedTenThousandDeep) {
  std::string deep = std::string(10000, '[') + std::string(10000, ']');
  expectError([&] { model_from_json(R"({"class_name": "Sequential", "config": )" + deep + "}"); },
              {"nests deeper", "256"});
}
TEST_F(Files, BadShapeOverflow) {
  expectError(
      [] {
        model_from_json(R"({"class_name": "Sequential", "config": {"layers": [
          {"class_name": "InputLayer", "config": {"batch_shape": [null, 2000000000, 2000000000,
           2000000000], "name": "in"}}]}})");
      },
      {"layer 'in'", "more elements per sample"});
}
TEST_F(Files, BadUnsupportedOptions) {
  auto withDense = [](const std::string &extra) {
    return R"({"class_name": "Sequential", "config": {"layers": [
      {"class_name": "InputLayer", "config": {"batch_shape": [null, 3], "name": "in"}},
      {"class_name": "Dense", "config": {"name": "d", "units": 2)" +
           extra + "}}]}}";
  };
  expectError([&] { model_from_json(withDense(R"(, "kernel_regularizer": {"class_name":
      "OrthogonalRegularizer", "config": {"factor": 0.01}})")); },
              {"layer 'd'", "kernel_regularizer", "'OrthogonalRegularizer' is not supported"});
  expectError([&] { model_from_json(withDense(R"(, "dtype": "mixed_float16")")); },
              {"layer 'd'", "dtype 'mixed_float16'"});
  expectError([&] { model_from_json(withDense(R"(, "activation": "bogus")")); },
              {"layer 'd'", "unknown activation 'bogus'"});
  expectError([&] { model_from_json(withDense(R"(, "units": "two")")); },
              {"layer 'd'", "'units' must be an integer"});
  expectError(
      [] {
        model_from_json(R"({"class_name": "Sequential", "config": {"layers": [
          {"class_name": "InputLayer", "config": {"batch_shape": [null, 6, 6, 4], "name": "in"}},
          {"class_name": "Conv2D", "config": {"name": "c", "filters": 2, "kernel_size": 3,
           "groups": 3}}]}})");
      },
      {"layer 'c'", "filters (2) must be a multiple of groups (3)"});
}
TEST_F(Files, BadGraphReferences) {
  expectError(
      [] {
        model_from_json(R"({"class_name": "Functional", "config": {"name": "m", "layers": [
          {"class_name": "InputLayer", "config": {"batch_input_shape": [null, 3], "name": "in"},
           "inbound_nodes": []},
          {"class_name": "Dense", "config": {"name": "d", "units": 2},
           "inbound_nodes": [[["ghost", 0, 0, {}]]]}],
          "input_layers": [["in", 0, 0]], "output_layers": [["d", 0, 0]]}})");
      },
      {"layer 'd'", "'ghost'", "not in the model"});
}

} // namespace
