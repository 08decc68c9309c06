//===- ApplicationsTest.cpp - VGG16, ResNet50, MobileNet against Keras' numbers -===//
//
// Parameter counts, trainable splits and summary footers as keras.applications' models print
// them (tf.keras 2.15 / Keras 3 give the same counts), layer names as Keras names them, the
// options, and the ReLU layer MobileNet needs. The numbers against Keras are in test/golden
// (app_* cases). Building VGG16 with its top allocates its 138M weights (0.55 GB) once.
//
//===----------------------------------------------------------------------===//
#include "kiln/kiln.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <random>

using namespace kiln;
using namespace kiln::layers;
namespace app = kiln::applications;

namespace {

class Applications : public ::testing::Test {
protected:
  void SetUp() override { backend::clear_session(); }
};

struct Counts {
  int64_t total, trainable, nonTrainable;
};

/// The three counts from the summary's footer ("Total params: 225 (900.00 Byte)").
Counts counts(const Model &m) {
  std::string s = m.summary_string();
  auto read = [&](const std::string &key) -> int64_t {
    size_t at = s.find("\n" + key);
    if (at == std::string::npos)
      return -1;
    return std::stoll(s.substr(at + key.size() + 1));
  };
  return {read("Total params: "), read("Trainable params: "), read("Non-trainable params: ")};
}

std::vector<std::string> layerNames(const Model &m) {
  std::vector<std::string> out;
  for (const Layer &l : m.layers())
    out.push_back(l.name());
  return out;
}

bool hasLayer(const Model &m, const std::string &name) {
  for (const Layer &l : m.layers())
    if (l.name() == name)
      return true;
  return false;
}

TEST_F(Applications, VGG16CountsAndNames) {
  Model m = app::VGG16();
  EXPECT_EQ(m.name(), "vgg16");
  EXPECT_EQ(m.count_params(), 138357544);
  Counts c = counts(m);
  EXPECT_EQ(c.total, 138357544);
  EXPECT_EQ(c.trainable, 138357544);
  EXPECT_EQ(c.nonTrainable, 0);
  std::string s = m.summary_string();
  EXPECT_NE(s.find("Total params: 138357544 (527.79 MB)\n"), std::string::npos) << s;
  EXPECT_EQ(m.layers().size(), 23u);
  std::vector<std::string> names = layerNames(m);
  EXPECT_EQ(names[1], "block1_conv1");
  EXPECT_EQ(names[3], "block1_pool");
  EXPECT_EQ(names[18], "block5_pool");
  EXPECT_EQ(names[19], "flatten");
  EXPECT_EQ(names[20], "fc1");
  EXPECT_EQ(names[21], "fc2");
  EXPECT_EQ(names[22], "predictions");
  EXPECT_EQ(m.outputs()[0].shape(), (std::vector<int64_t>{-1, 1000}));
  EXPECT_EQ(m.get_layer("fc1").get_weights()[0].shape, (std::vector<int64_t>{25088, 4096}));
}

TEST_F(Applications, VGG16WithoutTop) {
  Model m = app::VGG16({.include_top = false});
  EXPECT_EQ(m.count_params(), 14714688);
  EXPECT_EQ(m.outputs()[0].shape(), (std::vector<int64_t>{-1, 7, 7, 512}));
  EXPECT_EQ(m.layers().size(), 19u);
  Model avg = app::VGG16({.include_top = false, .input_shape = {{64, 48, 3}}, .pooling = "avg"});
  EXPECT_EQ(avg.count_params(), 14714688);
  EXPECT_EQ(avg.outputs()[0].shape(), (std::vector<int64_t>{-1, 512}));
  EXPECT_EQ(avg.layers().back().class_name(), "GlobalAveragePooling2D");
  Model mx = app::VGG16({.include_top = false, .input_shape = {{32, 32, 3}}, .pooling = "max"});
  EXPECT_EQ(mx.layers().back().class_name(), "GlobalMaxPooling2D");
  EXPECT_EQ(mx.outputs()[0].shape(), (std::vector<int64_t>{-1, 512}));
}

TEST_F(Applications, ResNet50CountsAndNames) {
  Model m = app::ResNet50();
  EXPECT_EQ(m.name(), "resnet50");
  EXPECT_EQ(m.count_params(), 25636712);
  Counts c = counts(m);
  EXPECT_EQ(c.total, 25636712);
  EXPECT_EQ(c.trainable, 25583592);
  EXPECT_EQ(c.nonTrainable, 53120);
  std::string s = m.summary_string();
  EXPECT_NE(s.find("Total params: 25636712 (97.80 MB)\n"
                   "Trainable params: 25583592 (97.59 MB)\n"
                   "Non-trainable params: 53120 (207.50 KB)\n"),
            std::string::npos)
      << s.substr(s.size() - 400);
  EXPECT_EQ(m.layers().size(), 177u);
  std::vector<std::string> names = layerNames(m);
  std::vector<std::string> first = {"conv1_pad", "conv1_conv", "conv1_bn",
                                    "conv1_relu", "pool1_pad", "pool1_pool"};
  EXPECT_EQ(std::vector<std::string>(names.begin() + 1, names.begin() + 7), first);
  EXPECT_EQ(names[names.size() - 3], "conv5_block3_out");
  EXPECT_EQ(names[names.size() - 2], "avg_pool");
  EXPECT_EQ(names.back(), "predictions");
  for (const char *n : {"conv2_block1_0_conv", "conv2_block1_0_bn", "conv2_block1_1_conv",
                        "conv2_block1_2_relu", "conv2_block1_3_bn", "conv2_block1_add",
                        "conv3_block4_out", "conv4_block6_out", "conv5_block1_0_conv"})
    EXPECT_TRUE(hasLayer(m, n)) << n;
  // Identity shortcuts after the first block of each stack.
  EXPECT_FALSE(hasLayer(m, "conv2_block2_0_conv"));
  nlohmann::json bn = m.get_layer("conv3_block2_1_bn").get_config();
  EXPECT_DOUBLE_EQ(bn["epsilon"].get<double>(), 1.001e-5);
  EXPECT_EQ(bn["axis"], 3);
  EXPECT_EQ(m.get_layer("conv1_pad").get_config()["padding"],
            nlohmann::json::parse("[[3, 3], [3, 3]]"));
  EXPECT_EQ(m.get_layer("conv1_conv").get_config()["strides"], nlohmann::json::parse("[2, 2]"));
  EXPECT_EQ(m.get_layer("conv4_block1_1_conv").get_config()["strides"],
            nlohmann::json::parse("[2, 2]"));
  EXPECT_EQ(m.get_layer("conv2_block1_1_conv").get_config()["strides"],
            nlohmann::json::parse("[1, 1]"));
  EXPECT_EQ(m.get_layer("conv3_block1_2_conv").get_config()["padding"], "same");
}

TEST_F(Applications, ResNet50WithoutTop) {
  Model m = app::ResNet50({.include_top = false});
  EXPECT_EQ(m.count_params(), 23587712);
  EXPECT_EQ(counts(m).nonTrainable, 53120);
  EXPECT_EQ(m.layers().size(), 175u);
  EXPECT_EQ(m.outputs()[0].shape(), (std::vector<int64_t>{-1, 7, 7, 2048}));
  backend::clear_session();
  Model avg = app::ResNet50({.include_top = false, .input_shape = {{32, 32, 3}}, .pooling = "avg"});
  EXPECT_EQ(avg.layers().back().name(), "avg_pool");
  EXPECT_EQ(avg.outputs()[0].shape(), (std::vector<int64_t>{-1, 2048}));
  backend::clear_session();
  Model mx = app::ResNet50({.include_top = false, .input_shape = {{40, 40, 3}}, .pooling = "max"});
  EXPECT_EQ(mx.layers().back().name(), "max_pool");
}

TEST_F(Applications, MobileNetCountsAndNames) {
  Model m = app::MobileNet();
  EXPECT_EQ(m.name(), "mobilenet_1.00_224");
  EXPECT_EQ(m.count_params(), 4253864);
  Counts c = counts(m);
  EXPECT_EQ(c.total, 4253864);
  EXPECT_EQ(c.trainable, 4231976);
  EXPECT_EQ(c.nonTrainable, 21888);
  std::string s = m.summary_string();
  EXPECT_NE(s.find("Total params: 4253864 (16.23 MB)\n"
                   "Trainable params: 4231976 (16.14 MB)\n"
                   "Non-trainable params: 21888 (85.50 KB)\n"),
            std::string::npos)
      << s.substr(s.size() - 400);
  EXPECT_EQ(m.layers().size(), 91u);
  std::vector<std::string> names = layerNames(m);
  std::vector<std::string> head = {"conv1",       "conv1_bn",       "conv1_relu",
                                   "conv_dw_1",   "conv_dw_1_bn",   "conv_dw_1_relu",
                                   "conv_pw_1",   "conv_pw_1_bn",   "conv_pw_1_relu",
                                   "conv_pad_2",  "conv_dw_2"};
  EXPECT_EQ(std::vector<std::string>(names.begin() + 1, names.begin() + 12), head);
  std::vector<std::string> top = {"conv_pw_13_relu", "global_average_pooling2d", "dropout",
                                  "conv_preds", "reshape_2", "predictions"};
  EXPECT_EQ(std::vector<std::string>(names.end() - 6, names.end()), top);
  EXPECT_EQ(m.get_layer("conv1_relu").class_name(), "ReLU");
  EXPECT_EQ(m.get_layer("conv1_relu").get_config()["max_value"].get<double>(), 6.0);
  EXPECT_EQ(m.get_layer("conv1").get_config()["use_bias"], false);
  EXPECT_EQ(m.get_layer("conv_dw_2").get_config()["padding"], "valid");
  EXPECT_EQ(m.get_layer("conv_dw_3").get_config()["padding"], "same");
  EXPECT_EQ(m.get_layer("conv_pad_12").get_config()["padding"],
            nlohmann::json::parse("[[0, 1], [0, 1]]"));
  EXPECT_EQ(m.get_layer("global_average_pooling2d").get_config()["keepdims"], true);
  EXPECT_DOUBLE_EQ(m.get_layer("dropout").get_config()["rate"].get<double>(), 1e-3);
  EXPECT_EQ(m.outputs()[0].shape(), (std::vector<int64_t>{-1, 1000}));
}

TEST_F(Applications, MobileNetWithoutTopAndWidths) {
  Model m = app::MobileNet({.include_top = false});
  EXPECT_EQ(m.count_params(), 3228864);
  EXPECT_EQ(counts(m).nonTrainable, 21888);
  EXPECT_EQ(m.outputs()[0].shape(), (std::vector<int64_t>{-1, 7, 7, 1024}));
  backend::clear_session();
  // alpha 0.25 at 32x32 (the golden case): 256 channels at the end, a 1x1x256 map.
  Model q = app::MobileNet({.input_shape = {{32, 32, 3}}, .classes = 10}, {.alpha = 0.25});
  EXPECT_EQ(q.name(), "mobilenet_0.25_32");
  EXPECT_EQ(q.get_layer("conv1").get_weights()[0].shape, (std::vector<int64_t>{3, 3, 3, 8}));
  EXPECT_EQ(q.get_layer("conv_preds").get_weights()[0].shape,
            (std::vector<int64_t>{1, 1, 256, 10}));
  EXPECT_EQ(q.outputs()[0].shape(), (std::vector<int64_t>{-1, 10}));
  backend::clear_session();
  Model d = app::MobileNet({.include_top = false, .input_shape = {{64, 64, 3}}, .pooling = "avg"},
                           {.alpha = 0.5, .depth_multiplier = 2});
  EXPECT_EQ(d.get_layer("conv_dw_1").get_weights()[0].shape,
            (std::vector<int64_t>{3, 3, 16, 2}));
  EXPECT_EQ(d.get_layer("conv_pw_1").get_weights()[0].shape,
            (std::vector<int64_t>{1, 1, 32, 32}));
  EXPECT_EQ(d.outputs()[0].shape(), (std::vector<int64_t>{-1, 512}));
}

TEST_F(Applications, OptionsAndErrors) {
  auto expectError = [](auto f, const std::string &part) {
    try {
      f();
      ADD_FAILURE() << "no error; expected one containing: " << part;
    } catch (const Error &e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  expectError([] { app::VGG16({.weights = "imagenet"}); }, "downloads nothing");
  expectError([] { app::ResNet50({.input_shape = {{16, 16, 3}}}); }, "at least 32x32");
  expectError([] { app::MobileNet({.input_shape = {{32, 32}}}); }, "(rows, cols, channels)");
  expectError([] { app::VGG16({.include_top = false, .pooling = "mean"}); }, "pooling");
  expectError([] { app::MobileNet({}, {.alpha = 0}); }, "alpha");
  expectError(
      [] {
        app::MobileNet({.weights = "/nonexistent/mobilenet.h5", .input_shape = {{32, 32, 3}}},
                       {.alpha = 0.25});
      },
      "mobilenet.h5");

  // classes and classifier_activation; "" is Keras' None (logits).
  Model logits = app::VGG16({.input_shape = {{32, 32, 3}}, .classes = 7,
                             .classifier_activation = ""});
  EXPECT_EQ(logits.outputs()[0].shape(), (std::vector<int64_t>{-1, 7}));
  EXPECT_EQ(logits.get_layer("predictions").get_config()["activation"], "linear");
  EXPECT_EQ(logits.get_layer("fc1").get_weights()[0].shape, (std::vector<int64_t>{512, 4096}));

  // input_tensor: the model's input is the Input the tensor comes from.
  backend::clear_session();
  Tensor in = Input({32, 32, 3}, {.name = "image"});
  Tensor scaled = Activation("tanh", {.name = "squash"})(in);
  Model m = app::MobileNet({.include_top = false, .input_tensor = scaled}, {.alpha = 0.25});
  ASSERT_EQ(m.inputs().size(), 1u);
  EXPECT_EQ(m.inputs()[0].name(), "image");
  EXPECT_TRUE(hasLayer(m, "squash"));
  EXPECT_EQ(m.name(), "mobilenet_0.25_32");
}

// Keras' layer names are what a weights file is matched by: weights saved from one model load
// into a new one built the same way (the `weights` option calls load_weights).
TEST_F(Applications, WeightsLoadByLayerName) {
  namespace fs = std::filesystem;
  fs::path path = fs::temp_directory_path() /
                  ("kiln_apps_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
                   "_" + std::to_string(std::random_device{}()) + ".h5");
  Model a = app::MobileNet({.input_shape = {{32, 32, 3}}, .classes = 10}, {.alpha = 0.25});
  std::vector<Array> w = a.get_weights();
  std::mt19937 g(5);
  std::uniform_real_distribution<float> d(0.5f, 1.5f);
  for (Array &x : w)
    for (float &v : x.data)
      v = d(g);
  a.set_weights(w);
  a.save_weights(path.string());
  backend::clear_session();
  Model b = app::MobileNet({.weights = path.string(), .input_shape = {{32, 32, 3}}, .classes = 10},
                           {.alpha = 0.25});
  std::vector<Array> got = b.get_weights();
  ASSERT_EQ(got.size(), w.size());
  for (size_t i = 0; i < w.size(); ++i)
    EXPECT_EQ(got[i].data, w[i].data) << i;
  fs::remove(path);
}

// A ResNet50's model_config is past HDF5's 64 KB limit for compact attributes: save() must
// still write it, and load_model read it back.
TEST_F(Applications, ResNet50SavesToH5) {
  namespace fs = std::filesystem;
  fs::path path = fs::temp_directory_path() /
                  ("kiln_resnet_" + std::to_string(std::random_device{}()) + ".h5");
  Model m = app::ResNet50({.include_top = false, .input_shape = {{32, 32, 3}}, .pooling = "avg"});
  ASSERT_GT(m.to_json(-1, true).size(), 65536u);
  m.save(path.string());
  backend::clear_session();
  Model back = load_model(path.string());
  EXPECT_EQ(back.to_json(), m.to_json());
  std::vector<Array> a = m.get_weights(), b = back.get_weights();
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(a.front().data, b.front().data);
  EXPECT_EQ(a.back().data, b.back().data);
  fs::remove(path);
}

// Keras' config of the model reads back into the same architecture (the golden cases feed the
// same JSON to the Keras oracle).
TEST_F(Applications, ConfigRoundTrips) {
  Model m = app::ResNet50({.include_top = false, .input_shape = {{32, 32, 3}}, .pooling = "avg"});
  std::string json = m.to_json();
  backend::clear_session();
  Model back = model_from_json(json);
  EXPECT_EQ(back.count_params(), m.count_params());
  EXPECT_EQ(layerNames(back), layerNames(m));
  EXPECT_EQ(back.to_json(), json);
}

//===----------------------------------------------------------------------===//
// ReLU (MobileNet's relu6).
//===----------------------------------------------------------------------===//

float reluRef(float x, std::optional<double> maxValue, double slope) {
  double y = std::max(double(x), 0.0);
  if (maxValue)
    y = std::min(y, *maxValue);
  return float(y - slope * std::max(-double(x), 0.0));
}

TEST_F(Applications, ReLULayerMatchesKerasFormula) {
  Array x({4, 6});
  for (int64_t i = 0; i < x.size(); ++i)
    x.data[i] = -9.0f + 0.75f * float(i);
  struct Case {
    std::optional<double> max;
    double slope;
  };
  for (Case c : {Case{std::nullopt, 0.0}, Case{6.0, 0.0}, Case{std::nullopt, 0.3},
                 Case{2.5, 0.1}}) {
    backend::clear_session();
    Tensor in = Input({6});
    Model m(in, ReLU({.max_value = c.max, .negative_slope = c.slope})(in));
    EXPECT_EQ(m.layers()[1].name(), "re_lu");
    Array y = m.predict(x);
    for (int64_t i = 0; i < x.size(); ++i)
      EXPECT_FLOAT_EQ(y.data[i], reluRef(x.data[i], c.max, c.slope)) << x.data[i];
  }
}

TEST_F(Applications, ReLULayerConfigAndErrors) {
  ReLU r(6.0, {.name = "r6"});
  nlohmann::json c = r.get_config();
  EXPECT_EQ(c["name"], "r6");
  EXPECT_EQ(c["max_value"].get<double>(), 6.0);
  EXPECT_EQ(c["negative_slope"].get<double>(), 0.0);
  EXPECT_EQ(c["threshold"].get<double>(), 0.0);
  EXPECT_TRUE(ReLU().get_config()["max_value"].is_null());
  Layer back = layer_from_config(
      {{"class_name", "ReLU"},
       {"config", {{"name", "rr"}, {"max_value", 6.0}, {"negative_slope", 0.25}}}});
  EXPECT_EQ(back.class_name(), "ReLU");
  EXPECT_EQ(back.get_config()["negative_slope"].get<double>(), 0.25);
  EXPECT_THROW(ReLU({.threshold = 1.0}), Error);
  EXPECT_THROW(ReLU(-1.0), Error);
  EXPECT_THROW(ReLU({.negative_slope = -0.5}), Error);
}

} // namespace
