//===- LayersTest.cpp - merges, global pooling, LayerNormalization and shape layers -===//
//
// The builder side of the layers whose numbers test/golden checks against Keras: output
// shapes, names, weights and parameter counts, errors for bad arguments, Keras configs in and
// out (both spellings), and the weights through a .h5 file.
//
//===----------------------------------------------------------------------===//
#include "kiln/kiln.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <random>

#include <unistd.h>

using namespace kiln;
using namespace kiln::layers;
using json = nlohmann::json;
using Shape = std::vector<int64_t>;

namespace {

class Layers : public ::testing::Test {
protected:
  void SetUp() override { backend::clear_session(); }
};

template <typename F> void expectError(F f, const std::string &layer, const std::string &text) {
  try {
    f();
    FAIL() << "no kiln::Error thrown";
  } catch (const Error &e) {
    EXPECT_EQ(e.layer(), layer) << e.what();
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
  }
}

Array random(Shape shape, unsigned seed) {
  Array a(std::move(shape));
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(-1, 1);
  for (float &v : a.data)
    v = d(g);
  return a;
}

TEST_F(Layers, MergeShapesNamesAndErrors) {
  auto a = Input({4, 3}), b = Input({4, 3}), c = Input({4, 3}), d = Input({5});
  Multiply mul;
  Subtract sub;
  Average avg;
  Maximum mx;
  Minimum mn;
  EXPECT_EQ(mul({a, b, c}).shape(), (Shape{-1, 4, 3}));
  EXPECT_EQ(sub({a, b}).shape(), (Shape{-1, 4, 3}));
  EXPECT_EQ(avg({a, b, c}).shape(), (Shape{-1, 4, 3}));
  EXPECT_EQ(mx({a, b}).shape(), (Shape{-1, 4, 3}));
  EXPECT_EQ(mn({a, b}).shape(), (Shape{-1, 4, 3}));
  EXPECT_EQ(mul.name(), "multiply");
  EXPECT_EQ(sub.name(), "subtract");
  EXPECT_EQ(avg.name(), "average");
  EXPECT_EQ(mx.name(), "maximum");
  EXPECT_EQ(mn.class_name(), "Minimum");
  expectError([&] { Subtract()({a, b, c}); }, "subtract_1", "exactly 2 inputs, got 3");
  expectError([&] { Multiply()({a, d}); }, "multiply_1", "(None, 4, 3) and (None, 5)");
  expectError([&] { Maximum()(a); }, "maximum_1", "expects at least 2 inputs");
}

TEST_F(Layers, GlobalPoolingShapes) {
  auto img = Input({5, 6, 3}), seq = Input({7, 4});
  EXPECT_EQ(GlobalAveragePooling2D()(img).shape(), (Shape{-1, 3}));
  EXPECT_EQ(GlobalMaxPooling2D({.keepdims = true})(img).shape(), (Shape{-1, 1, 1, 3}));
  EXPECT_EQ(GlobalAveragePooling1D({.keepdims = true})(seq).shape(), (Shape{-1, 1, 4}));
  GlobalMaxPooling1D gmp;
  EXPECT_EQ(gmp(seq).shape(), (Shape{-1, 4}));
  EXPECT_EQ(gmp.name(), "global_max_pooling1d");
  expectError([&] { GlobalAveragePooling2D()(seq); }, "global_average_pooling2d_1",
              "expected an NHWC input of rank 4 (batch included), got shape (None, 7, 4)");
  expectError([] { GlobalMaxPooling2D({.data_format = "channels_first"}); },
              "global_max_pooling2d_1", "data_format 'channels_first' is not supported");
}

TEST_F(Layers, LayerNormalizationWeightsAndErrors) {
  auto x = Input({3, 4, 2});
  LayerNormalization ln;
  EXPECT_EQ(ln(x).shape(), (Shape{-1, 3, 4, 2}));
  EXPECT_EQ(ln.weight_names(), (std::vector<std::string>{"layer_normalization/gamma:0",
                                                         "layer_normalization/beta:0"}));
  EXPECT_EQ(ln.get_weights()[0].shape, (Shape{2}));
  EXPECT_EQ(ln.get_weights()[0].data, (std::vector<float>{1, 1}));
  EXPECT_EQ(ln.get_weights()[1].data, (std::vector<float>{0, 0}));
  LayerNormalization hw({.axis = {1, 2}, .center = false});
  hw(x);
  EXPECT_EQ(hw.weight_names(), (std::vector<std::string>{"layer_normalization_1/gamma:0"}));
  EXPECT_EQ(hw.get_weights()[0].shape, (Shape{3, 4}));
  EXPECT_EQ(hw.count_params(), 12);
  expectError([&] { LayerNormalization({.axis = {0}})(x); }, "layer_normalization_2",
              "axis 0 is out of range for input (None, 3, 4, 2)");
  expectError([&] { LayerNormalization({.axis = {4}})(x); }, "layer_normalization_3",
              "axis 4 is out of range");
  expectError([&] { LayerNormalization({.axis = {2, 1}})(x); }, "layer_normalization_4",
              "distinct axes in increasing order (input (None, 3, 4, 2))");
  expectError([] { LayerNormalization({.epsilon = 0}); }, "layer_normalization_5",
              "epsilon must be positive");
  // Keras' summary counts gamma and beta as trainable.
  auto in = Input({6});
  Model m(in, LayerNormalization({.name = "ln"})(Dense(8)(in)));
  std::string s = m.summary_string();
  EXPECT_NE(s.find("Total params: 72 (288.00 Byte)"), std::string::npos) << s;
  EXPECT_NE(s.find("Trainable params: 72"), std::string::npos) << s;
}

TEST_F(Layers, PaddingCroppingUpSamplingShapesAndErrors) {
  auto x = Input({4, 5, 2});
  EXPECT_EQ(ZeroPadding2D()(x).shape(), (Shape{-1, 6, 7, 2}));
  EXPECT_EQ(ZeroPadding2D({1, 2})(x).shape(), (Shape{-1, 6, 9, 2}));
  EXPECT_EQ(ZeroPadding2D({{1, 0}, {2, 1}})(x).shape(), (Shape{-1, 5, 8, 2}));
  EXPECT_EQ(Cropping2D(1)(x).shape(), (Shape{-1, 2, 3, 2}));
  EXPECT_EQ(Cropping2D({{0, 3}, {1, 0}})(x).shape(), (Shape{-1, 1, 4, 2}));
  EXPECT_EQ(UpSampling2D()(x).shape(), (Shape{-1, 8, 10, 2}));
  EXPECT_EQ(UpSampling2D({2, 3})(x).shape(), (Shape{-1, 8, 15, 2}));
  expectError([&] { Cropping2D({{2, 2}, {0, 0}})(x); }, "cropping2d_2",
              "cropping ((2, 2), (0, 0)) leaves nothing of input (None, 4, 5, 2)");
  expectError([] { ZeroPadding2D(-1); }, "zero_padding2d_3",
              "padding ((-1, -1), (-1, -1)) must not be negative");
  expectError([&] { ZeroPadding2D()(Input({5})); }, "zero_padding2d_4",
              "expected an NHWC input of rank 4 (batch included), got shape (None, 5)");
  expectError([] { UpSampling2D({2, 2}, {.interpolation = "bilinear"}); }, "up_sampling2d_2",
              "interpolation 'bilinear' is not supported");
  expectError([] { UpSampling2D({0, 2}); }, "up_sampling2d_3", "size must be a positive");
}

TEST_F(Layers, PermuteRepeatVectorReshapeShapesAndErrors) {
  auto x = Input({2, 3, 4}), v = Input({5});
  EXPECT_EQ(Permute({3, 1, 2})(x).shape(), (Shape{-1, 4, 2, 3}));
  EXPECT_EQ(RepeatVector(3)(v).shape(), (Shape{-1, 3, 5}));
  EXPECT_EQ(Reshape({-1, 4})(x).shape(), (Shape{-1, 6, 4}));
  expectError([] { Permute({1, 3}); }, "permute_1", "dims (1, 3) must be a permutation of 1..2");
  expectError([&] { Permute({2, 1})(x); }, "permute_2",
              "input (None, 2, 3, 4) has 3 per-sample axes");
  expectError([&] { RepeatVector(2)(x); }, "repeat_vector_1",
              "expected a (batch, features) input of rank 2 (batch included), got shape "
              "(None, 2, 3, 4)");
  expectError([] { RepeatVector(0); }, "repeat_vector_2", "n must be a positive integer");
  expectError([&] { Reshape({-1, 5})(x); }, "reshape_1",
              "cannot reshape input (None, 2, 3, 4) (24 values per sample)");
}

/// Every new layer in one functional model.
Model everyLayer() {
  auto img = Input({4, 5, 2}, {.name = "img"});
  auto vec = Input({6}, {.name = "vec"});
  Tensor t = ZeroPadding2D({{1, 0}, {2, 1}})(img);
  t = Conv2D(3, 2, {.activation = "tanh"})(t);
  t = Cropping2D({{1, 0}, {0, 2}})(t);
  t = UpSampling2D({2, 1})(t);
  t = LayerNormalization({.axis = {1, 2}, .epsilon = 1e-2, .center = false})(t);
  Tensor g = Concatenate()({GlobalAveragePooling2D()(t), GlobalMaxPooling2D()(t)});
  Tensor h = Dense(6, {.activation = "tanh"})(vec);
  Tensor r = Permute({2, 1})(RepeatVector(3)(h));
  Tensor s = Concatenate()({GlobalAveragePooling1D()(r), Flatten()(GlobalMaxPooling1D(
                                                              {.keepdims = true})(r))});
  Tensor a = Dense(6)(g), b = LayerNormalization()(Dense(6)(s));
  Tensor m = Concatenate()({Multiply()({a, b}), Subtract()({a, b}), Average()({a, b, h}),
                            Maximum()({a, b}), Minimum()({a, h})});
  return Model({img, vec}, Reshape({-1, 2})(m));
}

// The config read back writes the same config (test/golden checks that the configs Keras
// writes predict as Keras does).
TEST_F(Layers, KerasConfigRoundTripsInBothSpellings) {
  Model model = everyLayer();
  for (bool keras2 : {false, true}) {
    SCOPED_TRACE(keras2 ? "tf.keras 2" : "Keras 3");
    backend::clear_session();
    std::string text = model.to_json(-1, keras2);
    Model back = model_from_json(text);
    EXPECT_EQ(back.to_json(-1, keras2), text);
    EXPECT_EQ(back.count_params(), model.count_params());
  }
  json c = json::parse(model.to_json());
  std::map<std::string, json> byName;
  for (const json &l : c["config"]["layers"])
    byName[l["name"].get<std::string>()] = l["config"];
  EXPECT_EQ(byName["zero_padding2d"]["padding"], json::parse("[[1, 0], [2, 1]]"));
  EXPECT_EQ(byName["cropping2d"]["cropping"], json::parse("[[1, 0], [0, 2]]"));
  EXPECT_EQ(byName["up_sampling2d"]["size"], json::parse("[2, 1]"));
  EXPECT_EQ(byName["up_sampling2d"]["interpolation"], "nearest");
  EXPECT_EQ(byName["layer_normalization"]["axis"], json::parse("[1, 2]"));
  EXPECT_EQ(byName["layer_normalization"]["gamma_initializer"]["module"], "keras.initializers");
  EXPECT_EQ(byName["global_max_pooling1d"]["keepdims"], true);
  EXPECT_EQ(byName["permute"]["dims"], json::parse("[2, 1]"));
  EXPECT_EQ(byName["repeat_vector"]["n"], 3);
}

TEST_F(Layers, NoiseLayersConfigsShapesAndErrors) {
  Sequential m({Input({4, 4, 3}), GaussianNoise(0.2, {.seed = 4}), GaussianDropout(0.3),
                SpatialDropout2D(0.25, {.data_format = "channels_first", .seed = 2})});
  EXPECT_EQ(m.outputs()[0].shape(), (Shape{-1, 4, 4, 3}));
  EXPECT_EQ(m.count_params(), 0);
  for (bool keras2 : {false, true}) {
    backend::clear_session();
    std::string text = m.to_json(-1, keras2);
    EXPECT_EQ(model_from_json(text).to_json(-1, keras2), text);
  }
  json c = json::parse(m.to_json());
  json noise = c["config"]["layers"][1], drop = c["config"]["layers"][2],
       spatial = c["config"]["layers"][3];
  EXPECT_EQ(noise["class_name"], "GaussianNoise");
  EXPECT_EQ(noise["config"]["name"], "gaussian_noise");
  EXPECT_EQ(noise["config"]["stddev"], 0.2);
  EXPECT_EQ(noise["config"]["seed"], 4);
  EXPECT_EQ(drop["class_name"], "GaussianDropout");
  EXPECT_EQ(drop["config"]["rate"], 0.3);
  EXPECT_TRUE(drop["config"]["seed"].is_null());
  EXPECT_EQ(spatial["class_name"], "SpatialDropout2D");
  EXPECT_EQ(spatial["config"]["data_format"], "channels_first");
  EXPECT_EQ(spatial["config"]["rate"], 0.25);
  Array in({2, 4, 4, 3});
  for (size_t i = 0; i < in.data.size(); ++i)
    in.data[i] = float(i) * 0.01f;
  EXPECT_EQ(m.predict(in).data, in.data); // inference: identity

  expectError([] { GaussianNoise(-1, {.name = "n"}); }, "n", "stddev must be a non-negative");
  expectError([] { GaussianDropout(1.0, {.name = "g"}); }, "g", "rate must be in [0, 1)");
  expectError([] { SpatialDropout2D(0.5, {.data_format = "nhwc", .name = "s"}); }, "s",
              "data_format must be 'channels_last' or 'channels_first'");
  expectError([] { SpatialDropout2D(0.5, {.name = "s2"})(Input({4, 3})); }, "s2",
              "expected an NHWC input of rank 4");
  expectError([] {
    layer_from_config({{"class_name", "GaussianNoise"}, {"config", {{"name", "gn"}}}});
  }, "gn", "missing 'stddev'");
}

TEST_F(Layers, KerasConfigVariants) {
  auto layer = [](const char *cls, json config) {
    config["name"] = std::string("l_") + cls;
    return layer_from_config({{"class_name", cls}, {"config", config}});
  };
  auto x = Input({4, 5, 2});
  EXPECT_EQ(layer("ZeroPadding2D", {{"padding", 1}})(x).shape(), (Shape{-1, 6, 7, 2}));
  EXPECT_EQ(layer("ZeroPadding2D", {{"padding", {1, 2}}})(x).shape(), (Shape{-1, 6, 9, 2}));
  EXPECT_EQ(layer("Cropping2D", {{"cropping", {{0, 1}, {2, 0}}}})(x).shape(),
            (Shape{-1, 3, 3, 2}));
  EXPECT_EQ(layer("UpSampling2D", {{"size", 3}})(x).shape(), (Shape{-1, 12, 15, 2}));
  EXPECT_EQ(layer("GlobalAvgPool2D", json::object())(x).shape(), (Shape{-1, 2}));
  Layer ln = layer("LayerNormalization", {{"axis", -2}});
  EXPECT_EQ(ln(x).shape(), (Shape{-1, 4, 5, 2}));
  EXPECT_EQ(ln.get_weights()[0].shape, (Shape{5}));
  expectError([&] { layer("LayerNormalization", {{"rms_scaling", true}}); },
              "l_LayerNormalization", "'rms_scaling' is not supported");
  expectError([&] { layer("UpSampling2D", {{"interpolation", "bilinear"}}); }, "l_UpSampling2D",
              "interpolation 'bilinear' is not supported");
  expectError([&] { layer("ZeroPadding2D", {{"padding", {1, 2, 3}}}); }, "l_ZeroPadding2D",
              "'padding' must be an integer, [rows, cols] or [[top, bottom], [left, right]]");
  expectError([&] { layer("Permute", json::object()); }, "l_Permute",
              "Permute config needs a list 'dims'");
  expectError([&] { layer("GlobalMaxPooling1D", {{"keepdims", 1}}); }, "l_GlobalMaxPooling1D",
              "'keepdims' must be true or false");
}

TEST_F(Layers, WeightsThroughH5InKerasOrder) {
  Model model = everyLayer();
  std::vector<Array> w = model.get_weights();
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = random(w[i].shape, 100 + i);
  model.set_weights(w);
  auto dir = std::filesystem::temp_directory_path() /
             ("kiln-layers-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string path = (dir / "m.h5").string();
  model.save(path);
  backend::clear_session();
  Model back = load_model(path);
  std::filesystem::remove_all(dir);
  EXPECT_EQ(back.get_layer("layer_normalization_1").weight_names(),
            (std::vector<std::string>{"layer_normalization_1/gamma:0",
                                      "layer_normalization_1/beta:0"}));
  std::vector<Array> got = back.get_weights();
  ASSERT_EQ(got.size(), w.size());
  for (size_t i = 0; i < w.size(); ++i) {
    EXPECT_EQ(got[i].shape, w[i].shape) << i;
    EXPECT_EQ(got[i].data, w[i].data) << i;
  }
  EXPECT_EQ(back.count_params(), model.count_params());
}

} // namespace
