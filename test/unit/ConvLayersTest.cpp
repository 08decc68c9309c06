//===- ConvLayersTest.cpp - the convolution family on the builder side -----===//
//
// Conv1D, 1-D pooling, Conv2D dilation and groups, DepthwiseConv2D, SeparableConv2D,
// Conv2DTranspose and Dot: output shapes, Keras' weight names, layouts and parameter counts,
// errors for bad arguments, Keras configs in and out, weights through a .h5 file. Their numbers
// are checked against Keras in test/golden and their gradients in test/e2e/TrainTest.cpp.
//
//===----------------------------------------------------------------------===//
#include "kiln/kiln.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>

#include <unistd.h>

using namespace kiln;
using namespace kiln::layers;
using json = nlohmann::json;
using Shape = std::vector<int64_t>;

namespace {

class ConvLayers : public ::testing::Test {
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

Shape shapeOf(const Layer &l, size_t i) { return l.get_weights().at(i).shape; }

TEST_F(ConvLayers, ShapesWeightsAndParamCounts) {
  auto seq = Input({12, 5});
  Conv1D c1(4, 3);
  EXPECT_EQ(c1(seq).shape(), (Shape{-1, 10, 4}));
  EXPECT_EQ(shapeOf(c1, 0), (Shape{3, 5, 4}));
  EXPECT_EQ(c1.count_params(), 64);
  EXPECT_EQ(Conv1D(4, 3, {.padding = "causal", .dilation_rate = 3})(seq).shape(),
            (Shape{-1, 12, 4}));
  EXPECT_EQ(Conv1D(4, 3, {.strides = 2, .padding = "same"})(seq).shape(), (Shape{-1, 6, 4}));
  EXPECT_EQ(Conv1D(4, 3, {.strides = 5, .padding = "causal"})(seq).shape(), (Shape{-1, 3, 4}));
  auto seq4 = Input({12, 4});
  Conv1D g1(6, 2, {.groups = 2});
  EXPECT_EQ(g1(seq4).shape(), (Shape{-1, 11, 6}));
  EXPECT_EQ(shapeOf(g1, 0), (Shape{2, 2, 6}));
  EXPECT_EQ(g1.count_params(), 30);
  EXPECT_EQ(MaxPooling1D()(seq).shape(), (Shape{-1, 6, 5}));
  EXPECT_EQ(AveragePooling1D(3, {.strides = 2, .padding = "same"})(seq).shape(),
            (Shape{-1, 6, 5}));

  auto img = Input({9, 9, 8});
  Conv2D g2(8, 3, {.groups = 4});
  EXPECT_EQ(g2(img).shape(), (Shape{-1, 7, 7, 8}));
  EXPECT_EQ(shapeOf(g2, 0), (Shape{3, 3, 2, 8}));
  EXPECT_EQ(g2.count_params(), 152);
  EXPECT_EQ(Conv2D(2, 3, {.dilation_rate = {2, 3}})(img).shape(), (Shape{-1, 5, 3, 2}));

  auto rgb = Input({9, 9, 3});
  DepthwiseConv2D dw(3, {.depth_multiplier = 2});
  EXPECT_EQ(dw(rgb).shape(), (Shape{-1, 7, 7, 6}));
  EXPECT_EQ(dw.weight_names(), (std::vector<std::string>{"depthwise_conv2d/depthwise_kernel:0",
                                                         "depthwise_conv2d/bias:0"}));
  EXPECT_EQ(shapeOf(dw, 0), (Shape{3, 3, 3, 2}));
  EXPECT_EQ(dw.count_params(), 60);
  SeparableConv2D sep(5, 3, {.strides = {2, 2}, .padding = "same", .depth_multiplier = 2});
  EXPECT_EQ(sep(rgb).shape(), (Shape{-1, 5, 5, 5}));
  EXPECT_EQ(sep.weight_names(),
            (std::vector<std::string>{"separable_conv2d/depthwise_kernel:0",
                                      "separable_conv2d/pointwise_kernel:0",
                                      "separable_conv2d/bias:0"}));
  EXPECT_EQ(shapeOf(sep, 1), (Shape{1, 1, 6, 5}));
  EXPECT_EQ(sep.count_params(), 89);

  auto small = Input({5, 5, 3});
  Conv2DTranspose tr(4, 3, {.strides = {2, 2}});
  EXPECT_EQ(tr(small).shape(), (Shape{-1, 11, 11, 4}));
  EXPECT_EQ(shapeOf(tr, 0), (Shape{3, 3, 4, 3}));
  EXPECT_EQ(tr.count_params(), 112);
  EXPECT_EQ(Conv2DTranspose(2, 3, {.strides = {2, 2}, .padding = "same"})(small).shape(),
            (Shape{-1, 10, 10, 2}));
  EXPECT_EQ(Conv2DTranspose(2, 2, {.strides = {3, 3}})(small).shape(), (Shape{-1, 15, 15, 2}));

  auto a = Input({4}), b = Input({4});
  EXPECT_EQ(Dot(1)({a, b}).shape(), (Shape{-1, 1}));
  auto p = Input({3, 5}), q = Input({2, 5}), r = Input({5, 6});
  EXPECT_EQ(Dot(2, {.normalize = true})({p, q}).shape(), (Shape{-1, 3, 2}));
  EXPECT_EQ(Dot({1, 2})({r, q}).shape(), (Shape{-1, 6, 2}));
  EXPECT_EQ(Dot({-1, 1})({p, r}).shape(), (Shape{-1, 3, 6}));

  Model m({seq, img, rgb}, {c1(seq), g2(img), dw(rgb)});
  std::string s = m.summary_string();
  EXPECT_NE(s.find("Total params: 276 "), std::string::npos) << s;
}

TEST_F(ConvLayers, Conv3DAndPools3D) {
  auto x = Input({6, 9, 8, 2});
  Conv3D conv(3, {3, 2, 3}, {.strides = {1, 2, 1}});
  auto y = conv(x);
  EXPECT_EQ(y.shape(), (Shape{-1, 4, 4, 6, 3}));
  EXPECT_EQ(conv.get_weights()[0].shape, (Shape{3, 2, 3, 2, 3}));
  EXPECT_EQ(conv.count_params(), 3 * 2 * 3 * 2 * 3 + 3);
  EXPECT_EQ(MaxPooling3D()(y).shape(), (Shape{-1, 2, 2, 3, 3}));
  EXPECT_EQ(AveragePooling3D({3, 3, 3}, {.strides = {2}, .padding = "same"})(y).shape(),
            (Shape{-1, 2, 2, 3, 3}));
  EXPECT_EQ(Conv3D(2, 3, {.strides = {2, 2, 2}, .padding = "same"})(x).shape(),
            (Shape{-1, 3, 5, 4, 2}));
  Sequential m({Input({4, 4, 4, 1}), Conv3D(2, 2, {.padding = "same", .name = "c3"}),
                MaxPooling3D({2, 2, 2}, {.name = "p3"}),
                AveragePooling3D({1, 2, 2}, {.strides = {1, 1, 1}, .name = "a3"})});
  for (bool keras2 : {false, true}) {
    backend::clear_session();
    std::string text = m.to_json(-1, keras2);
    EXPECT_EQ(model_from_json(text).to_json(-1, keras2), text);
  }
  json c = json::parse(m.to_json());
  EXPECT_EQ(c["config"]["layers"][1]["config"]["kernel_size"], json::parse("[2, 2, 2]"));
  EXPECT_EQ(c["config"]["layers"][2]["config"]["strides"], json::parse("[2, 2, 2]"));
  EXPECT_EQ(c["config"]["layers"][3]["config"]["pool_size"], json::parse("[1, 2, 2]"));
  // A 1x1x1 kernel of ones and no bias sums the channels at every cell.
  backend::clear_session();
  Sequential sum({Input({2, 3, 2, 2}),
                  Conv3D(1, 1, {.use_bias = false, .kernel_initializer = "ones"})});
  Array in({1, 2, 3, 2, 2});
  for (size_t i = 0; i < in.data.size(); ++i)
    in.data[i] = float(i);
  Array out = sum.predict(in);
  for (int64_t i = 0; i < 12; ++i)
    EXPECT_FLOAT_EQ(out.data[i], in.data[2 * i] + in.data[2 * i + 1]);

  expectError([] { Conv3D(2, 3, {.groups = 2, .name = "g3"}); }, "g3", "groups must be 1");
  expectError([] { Conv3D(2, 3, {.name = "r3"})(Input({4, 4, 2})); }, "r3",
              "expected an NDHWC input of rank 5");
  expectError([] { Conv3D(2, 3, {.name = "s3"})(Input({2, 4, 4, 1})); }, "s3",
              "is too small for a (3, 3, 3) window");
  expectError([] { MaxPooling3D({2, 2, 2}, {.strides = {1, 2}, .name = "m3"}); }, "m3",
              "strides must have 1 or 3 entries");
  expectError([] { Conv3D(2, 3, {.strides = {2, 1, 1}, .dilation_rate = {1, 2, 1}, .name = "d3"}); },
              "d3", "not compatible with dilation_rate");
}

TEST_F(ConvLayers, Errors) {
  expectError([] { Conv1D(4, 3, {.padding = "full", .name = "c"}); }, "c",
              "padding must be 'valid', 'same' or 'causal'");
  expectError([] { Conv1D(5, 3, {.groups = 2, .name = "c"}); }, "c",
              "filters (5) must be a multiple of groups (2)");
  expectError([] { Conv1D(4, 3, {.name = "c"})(Input({4, 4, 4})); }, "c",
              "expected a (batch, steps, channels) input of rank 3");
  expectError([] { Conv2D(4, 3, {.groups = 4, .name = "c"})(Input({5, 5, 6})); }, "c",
              "input channels (6) must be a multiple of groups (4)");
  expectError([] { MaxPooling1D(4, {.name = "p"})(Input({3, 2})); }, "p",
              "too small for pool_size 4");
  expectError([] { DepthwiseConv2D(3, {.depth_multiplier = 0, .name = "d"}); }, "d",
              "depth_multiplier must be a positive integer");
  expectError([] { Conv2DTranspose(2, 3, {.groups = 2, .name = "t"}); }, "t",
              "groups must be 1 for Conv2DTranspose");
  expectError([] { Dot(1, {.name = "dot"})({Input({3}), Input({4})}); }, "dot",
              "differ along the dot axes (3 and 4)");
  expectError([] { Dot(1, {.name = "dot"})({Input({3}), Input({3, 3})}); }, "dot",
              "two inputs of rank 2 or 3");
  expectError([] { Dot(0, {.name = "dot"})({Input({3}), Input({3})}); }, "dot",
              "the batch axis cannot be summed over");
  expectError(
      [] {
        layer_from_config({{"class_name", "Conv2DTranspose"},
                           {"config",
                            {{"name", "t"}, {"filters", 2}, {"kernel_size", 3},
                             {"output_padding", {1, 1}}}}});
      },
      "t", "'output_padding' = [1,1] is not supported");
}

Model everyConv() {
  auto seq = Input({12, 4});
  Tensor s = Conv1D(4, 3, {.padding = "causal", .dilation_rate = 2,
                           .kernel_regularizer = regularizers::L2(0.1)})(seq);
  s = MaxPooling1D(2, {.strides = 1, .padding = "same"})(s);
  s = Conv1D(6, 2, {.strides = 2, .groups = 2, .activation = "relu"})(s);
  s = AveragePooling1D(2)(s);
  auto img = Input({8, 8, 4});
  Tensor t = Conv2D(4, 3, {.padding = "same", .dilation_rate = {2, 2}, .groups = 2})(img);
  t = DepthwiseConv2D(3, {.strides = {2, 2}, .padding = "same", .depth_multiplier = 2,
                          .depthwise_constraint = constraints::NonNeg()})(t);
  t = SeparableConv2D(3, 2, {.depth_multiplier = 2,
                             .pointwise_regularizer = regularizers::L1()})(t);
  t = Conv2DTranspose(3, 3, {.strides = {2, 2}, .padding = "same"})(t);
  Tensor v = GlobalAveragePooling2D()(t);
  Tensor d = Dot(1, {.normalize = true})({Flatten()(s), Dense(18)(v)});
  return Model({seq, img}, d);
}

TEST_F(ConvLayers, KerasConfigRoundTripsInBothSpellings) {
  Model model = everyConv();
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
  EXPECT_EQ(byName["conv1d"]["padding"], "causal");
  EXPECT_EQ(byName["conv1d"]["kernel_size"], json::parse("[3]"));
  EXPECT_EQ(byName["conv1d"]["dilation_rate"], json::parse("[2]"));
  EXPECT_EQ(byName["conv1d_1"]["groups"], 2);
  EXPECT_EQ(byName["conv2d"]["groups"], 2);
  EXPECT_EQ(byName["max_pooling1d"]["pool_size"], json::parse("[2]"));
  EXPECT_EQ(byName["depthwise_conv2d"]["depth_multiplier"], 2);
  EXPECT_EQ(byName["depthwise_conv2d"]["depthwise_constraint"]["class_name"], "NonNeg");
  EXPECT_EQ(byName["separable_conv2d"]["pointwise_regularizer"]["config"],
            json::parse(R"({"l1": 0.01})"));
  EXPECT_EQ(byName["conv2d_transpose"]["output_padding"], nullptr);
  EXPECT_EQ(byName["dot"]["axes"], 1);
  EXPECT_EQ(byName["dot"]["normalize"], true);
  // Keras' spellings: plain ints for 1-D sizes, a list of axes.
  auto layer = [](const char *cls, json config) {
    config["name"] = std::string("l_") + cls;
    return layer_from_config({{"class_name", cls}, {"config", config}});
  };
  EXPECT_EQ(layer("Conv1D", {{"filters", 2}, {"kernel_size", 3}, {"strides", 2}})(Input({9, 2}))
                .shape(),
            (Shape{-1, 4, 2}));
  EXPECT_EQ(layer("MaxPool1D", {{"pool_size", 3}})(Input({9, 2})).shape(), (Shape{-1, 3, 2}));
  EXPECT_EQ(layer("Dot", {{"axes", {1, 2}}})({Input({4, 3}), Input({2, 4})}).shape(),
            (Shape{-1, 3, 2}));
}

TEST_F(ConvLayers, WeightsThroughH5InKerasOrder) {
  Model model = everyConv();
  std::vector<Array> w = model.get_weights();
  for (size_t i = 0; i < w.size(); ++i)
    for (int64_t j = 0; j < w[i].size(); ++j)
      w[i].data[j] = float(i) + 0.001f * float(j);
  model.set_weights(w);
  auto dir = std::filesystem::temp_directory_path() /
             ("kiln-conv-layers-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string path = (dir / "m.h5").string();
  model.save(path);
  backend::clear_session();
  Model back = load_model(path);
  std::filesystem::remove_all(dir);
  std::vector<Array> got = back.get_weights();
  ASSERT_EQ(got.size(), w.size());
  for (size_t i = 0; i < w.size(); ++i) {
    EXPECT_EQ(got[i].shape, w[i].shape) << i;
    EXPECT_EQ(got[i].data, w[i].data) << i;
  }
  EXPECT_EQ(back.get_layer("separable_conv2d").weight_names(),
            (std::vector<std::string>{"separable_conv2d/depthwise_kernel:0",
                                      "separable_conv2d/pointwise_kernel:0",
                                      "separable_conv2d/bias:0"}));
}

} // namespace
