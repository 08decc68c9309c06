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

} // namespace
