//===- BuilderTest.cpp - the functional and Sequential builders ------------===//
#include "kiln/kiln.h"

#include <gtest/gtest.h>

using namespace kiln;
using namespace kiln::layers;

namespace {

class Builder : public ::testing::Test {
protected:
  void SetUp() override { backend::clear_session(); }
};

/// Runs `f`, expects a kiln::Error naming `layer` whose message contains `text`.
template <typename F> void expectError(F f, const std::string &layer, const std::string &text) {
  try {
    f();
    FAIL() << "no kiln::Error thrown";
  } catch (const Error &e) {
    EXPECT_EQ(e.layer(), layer) << e.what();
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
  }
}

TEST_F(Builder, MlpHas225Params) {
  auto in = Input({4});
  auto x = Dense(16, {.activation = "relu"})(in);
  x = Dense(8, {.activation = "relu"})(x);
  auto out = Dense(1, {.activation = "sigmoid"})(x);
  Model model(in, out);
  EXPECT_EQ(model.count_params(), 225);
  EXPECT_EQ(out.shape(), (std::vector<int64_t>{-1, 1}));
  EXPECT_EQ(model.name(), "model");
  std::vector<std::string> names;
  for (const Layer &l : model.layers())
    names.push_back(l.name());
  EXPECT_EQ(names, (std::vector<std::string>{"input_1", "dense", "dense_1", "dense_2"}));
}

TEST_F(Builder, Conv2DOnThreeChannelsHas896Params) {
  auto in = Input({32, 32, 3});
  Conv2D conv(32, {3, 3});
  auto out = conv(in);
  EXPECT_EQ(conv.count_params(), 896);
  EXPECT_EQ(out.shape(), (std::vector<int64_t>{-1, 30, 30, 32}));
  EXPECT_EQ(conv.name(), "conv2d");
  EXPECT_EQ(conv.weight_names(), (std::vector<std::string>{"conv2d/kernel:0", "conv2d/bias:0"}));
  EXPECT_EQ(conv.get_weights()[0].shape, (std::vector<int64_t>{3, 3, 3, 32}));
}

TEST_F(Builder, SeedCnnShapesAndParams) {
  auto inputs = Input({28, 28, 1});
  auto x = Conv2D(32, {3, 3}, {.activation = "relu"})(inputs);
  x = MaxPooling2D({2, 2})(x);
  x = Conv2D(64, {3, 3}, {.activation = "relu"})(x);
  x = MaxPooling2D({2, 2})(x);
  x = Flatten()(x);
  EXPECT_EQ(x.shape(), (std::vector<int64_t>{-1, 1600}));
  x = Dense(128, {.activation = "relu"})(x);
  auto outputs = Dense(10, {.activation = "softmax"})(x);
  Model model(inputs, outputs);
  EXPECT_EQ(model.count_params(), 320 + 18496 + 204928 + 1290);
  EXPECT_EQ(model.get_weights().size(), 8u);
}

TEST_F(Builder, SameStride2Shapes) {
  auto in = Input({9, 9, 3});
  EXPECT_EQ(Conv2D(4, 3, {.strides = {2, 2}, .padding = "same"})(in).shape(),
            (std::vector<int64_t>{-1, 5, 5, 4}));
  EXPECT_EQ(MaxPooling2D({2, 2}, {.padding = "same"})(in).shape(),
            (std::vector<int64_t>{-1, 5, 5, 3}));
  EXPECT_EQ(AveragePooling2D({3, 3}, {.strides = {2, 2}})(in).shape(),
            (std::vector<int64_t>{-1, 4, 4, 3}));
}

TEST_F(Builder, SequentialInitializerListAndAdd) {
  Sequential a({Input({4}), Dense(16, {.activation = "relu"}), Dense(8), Dense(1)});
  EXPECT_EQ(a.count_params(), 225);
  EXPECT_EQ(a.name(), "sequential");
  EXPECT_EQ(a.layers().size(), 3u); // no InputLayer in a Sequential's layers

  Sequential b;
  b.add(Input({4}));
  b.add(Dense(16));
  b.add(Dense(8));
  b.add(Dense(1));
  EXPECT_EQ(b.count_params(), 225);
  EXPECT_EQ(b.name(), "sequential_1");
}

TEST_F(Builder, SequentialWithoutInputBuildsOnPredict) {
  Sequential model({Dense(3), Dense(2)});
  EXPECT_THROW(model.summary_string(), Error);
  Array y = model.predict(Array({5, 4}));
  EXPECT_EQ(y.shape, (std::vector<int64_t>{5, 2}));
  EXPECT_EQ(model.count_params(), 4 * 3 + 3 + 3 * 2 + 2);
}

TEST_F(Builder, SharedLayerSharesWeights) {
  auto a = Input({6}), b = Input({6});
  Dense shared(5, {.activation = "tanh"});
  auto ya = shared(a), yb = shared(b);
  auto out = Dense(3, {.activation = "softmax"})(Concatenate()({ya, yb}));
  Model model({a, b}, {out, Dense(2)(yb)});
  EXPECT_EQ(model.count_params(), (6 * 5 + 5) + (10 * 3 + 3) + (5 * 2 + 2));
  EXPECT_EQ(model.get_weights().size(), 6u);
}

TEST_F(Builder, WeightsRoundTripInKerasOrder) {
  auto in = Input({2});
  Dense d(3);
  Model model(in, d(in));
  std::vector<Array> w = {Array({2, 3}, {1, 2, 3, 4, 5, 6}), Array({3}, {7, 8, 9})};
  model.set_weights(w);
  EXPECT_EQ(model.get_weights()[0].data, w[0].data);
  EXPECT_EQ(d.get_weights()[1].data, w[1].data);
  expectError([&] { model.set_weights({Array({3, 2}), Array({3})}); }, "dense",
              "weight 'dense/kernel:0' has shape (2, 3), the provided array #0 has shape (3, 2)");
  expectError([&] { model.set_weights({Array({2, 3})}); }, "model", "got 1 arrays");
}

TEST_F(Builder, UseBiasFalseHasKernelOnly) {
  auto in = Input({4});
  Dense d(2, {.use_bias = false});
  d(in);
  EXPECT_EQ(d.count_params(), 8);
  EXPECT_EQ(d.get_weights().size(), 1u);
}

TEST_F(Builder, WrongRankNamesLayerAndShape) {
  auto in = Input({10});
  expectError([&] { Conv2D(4, 3)(in); }, "conv2d",
              "expected an NHWC input of rank 4 (batch included), got shape (None, 10)");
  auto img = Input({28, 28, 1});
  expectError([&] { MaxPooling2D({2, 2})(Input({5})); }, "max_pooling2d", "rank 4");
  expectError([&] { Conv2D(4, 5)(Input({3, 3, 1})); }, "conv2d_1", "too small");
  (void)img;
}

TEST_F(Builder, ZeroUnitsAndUnknownActivation) {
  expectError([] { Dense(0); }, "dense", "units must be a positive integer, got 0");
  expectError([] { Dense(3, {.activation = "relux"}); }, "dense_1", "unknown activation 'relux'");
  expectError([] { Activation("nope"); }, "activation", "unknown activation 'nope'");
  expectError([] { Conv2D(3, 3, {.padding = "full"}); }, "conv2d", "padding must be");
  expectError([] { Dropout(1.5); }, "dropout", "rate must be in [0, 1)");
  expectError([] { Reshape({-1, -1}); }, "reshape", "at most one -1");
}

TEST_F(Builder, MergeShapeErrors) {
  auto a = Input({4}), b = Input({5});
  expectError([&] { Add()({a, b}); }, "add", "(None, 4) and (None, 5)");
  expectError([&] { Add()(a); }, "add_1", "expects at least 2 inputs");
  auto c = Input({2, 3}), d = Input({3, 3});
  EXPECT_EQ(Concatenate({.axis = 1})({c, d}).shape(), (std::vector<int64_t>{-1, 5, 3}));
  expectError([&] { Concatenate()({c, d}); }, "concatenate_1",
              "must match except along axis -1");
}

TEST_F(Builder, ReshapeChecksCounts) {
  auto in = Input({4, 6});
  EXPECT_EQ(Reshape({3, -1})(in).shape(), (std::vector<int64_t>{-1, 3, 8}));
  expectError([&] { Reshape({5, 5})(in); }, "reshape_1", "cannot reshape input (None, 4, 6)");
}

TEST_F(Builder, OutputsThatDoNotDependOnInputs) {
  auto a = Input({4}), b = Input({4});
  auto y = Dense(2)(b);
  expectError([&] { Model(a, y); }, "model", "graph disconnected");
}

TEST_F(Builder, SharedLayerOnAnotherShape) {
  Dense d(3);
  d(Input({4}));
  expectError([&] { d(Input({5})); }, "dense", "was built for input shape (None, 4)");
}

TEST_F(Builder, DuplicateNamesInAModel) {
  auto in = Input({4});
  auto y = Dense(2, {.name = "same"})(Dense(3, {.name = "same"})(in));
  expectError([&] { Model(in, y); }, "model", "the name 'same' is used by two layers");
}

TEST_F(Builder, EmptyTensorIsAnError) {
  expectError([] { Dense(2)(Tensor()); }, "dense", "empty kiln::Tensor");
  expectError([] { Input({0, 3}); }, "input_1", "must be positive");
}

TEST_F(Builder, MlirNamesLayersAndMarksArgumentsReadOnly) {
  auto in = Input({4});
  Model model(in, Dense(2, {.activation = "softmax"})(in));
  std::string ir = model.mlir();
  EXPECT_NE(ir.find("func.func @predict(%arg0: tensor<?x4xf32> {bufferization.writable = false}"),
            std::string::npos)
      << ir;
  EXPECT_NE(ir.find("kiln.matmul"), std::string::npos) << ir;
  EXPECT_NE(ir.find("kiln.softmax"), std::string::npos) << ir;
}

} // namespace
