//===- Applications.cpp - VGG16, ResNet50 and MobileNet as keras.applications builds them -===//
#include "kiln/Applications.h"

#include "Impl.h"

#include <cmath>
#include <cstdio>
#include <set>

namespace kiln::applications {
using namespace kiln::layers;

namespace {

/// Keras' imagenet_utils.obtain_input_shape for weights=None, channels_last: (rows, cols,
/// channels) with rows and cols at least 32; unset: 224x224x3 (see ApplicationOptions).
std::vector<int64_t> inputShape(const ApplicationOptions &o, const std::string &model) {
  if (!o.input_shape)
    return {224, 224, 3};
  const std::vector<int64_t> &s = *o.input_shape;
  if (s.size() != 3)
    throw Error(model, "input_shape must be (rows, cols, channels), got " +
                           Array::shapeString(s));
  if (s[0] < 32 || s[1] < 32)
    throw Error(model, "input size must be at least 32x32, got input_shape " +
                           Array::shapeString(s));
  if (s[2] <= 0)
    throw Error(model, "input_shape channels must be positive, got " + Array::shapeString(s));
  return s;
}

/// The input tensor (Keras' img_input) and the model's inputs (get_source_inputs).
std::pair<Tensor, std::vector<Tensor>> modelInput(const ApplicationOptions &o,
                                                  const std::string &model) {
  if (!o.input_tensor) {
    Tensor t = Input(inputShape(o, model));
    return {t, {t}};
  }
  const Tensor &t = *o.input_tensor;
  if (!t.impl)
    throw Error(model, "input_tensor is an empty kiln::Tensor");
  if (t.shape().size() != 4)
    throw Error(model, "input_tensor must be a (batch, rows, cols, channels) tensor, got " +
                           t.shape_string());
  std::vector<Tensor> sources;
  std::set<const detail::TensorImpl *> seen;
  std::vector<std::shared_ptr<detail::TensorImpl>> stack = {t.impl};
  while (!stack.empty()) {
    auto cur = stack.back();
    stack.pop_back();
    const detail::TensorImpl *call = cur->call();
    if (!seen.insert(call).second)
      continue;
    if (call->layer->className == "InputLayer") {
      sources.push_back(Tensor(cur->primary ? cur->primary : cur));
      continue;
    }
    for (auto it = call->inputs.rbegin(); it != call->inputs.rend(); ++it)
      stack.push_back(*it);
  }
  return {t, sources};
}

void checkTop(const ApplicationOptions &o, const std::string &model) {
  if (o.weights == "imagenet")
    throw Error(model, "weights='imagenet': kiln downloads nothing; pass the path of Keras' "
                       "weights file (e.g. ~/.keras/models/*.h5) instead");
  if (o.pooling != "" && o.pooling != "avg" && o.pooling != "max")
    throw Error(model, "pooling must be empty, 'avg' or 'max', got '" + o.pooling + "'");
  if (o.include_top && o.classes <= 0)
    throw Error(model, "classes must be positive, got " + std::to_string(o.classes));
}

std::string classifier(const ApplicationOptions &o) {
  return o.classifier_activation.empty() ? "linear" : o.classifier_activation;
}

/// Pooling after the last block when include_top is false (Keras' auto names unless given).
Tensor pool(const ApplicationOptions &o, Tensor x, const std::string &avgName = "",
            const std::string &maxName = "") {
  if (o.pooling == "avg")
    return GlobalAveragePooling2D({.name = avgName})(x);
  if (o.pooling == "max")
    return GlobalMaxPooling2D({.name = maxName})(x);
  return x;
}

Model finish(const ApplicationOptions &o, const std::vector<Tensor> &inputs, const Tensor &x,
             const std::string &name) {
  Model model(inputs, x, {.name = name});
  if (!o.weights.empty())
    model.load_weights(o.weights);
  return model;
}

} // namespace

//===----------------------------------------------------------------------===//
// VGG16 (keras/src/applications/vgg16.py)
//===----------------------------------------------------------------------===//

Model VGG16(ApplicationOptions o) {
  std::string name = o.name.empty() ? "vgg16" : o.name;
  checkTop(o, name);
  auto [x, inputs] = modelInput(o, name);
  const int64_t filters[5] = {64, 128, 256, 512, 512};
  const int convs[5] = {2, 2, 3, 3, 3};
  for (int b = 0; b < 5; ++b) {
    std::string block = "block" + std::to_string(b + 1);
    for (int c = 0; c < convs[b]; ++c)
      x = Conv2D(filters[b], 3,
                 {.padding = "same", .activation = "relu",
                  .name = block + "_conv" + std::to_string(c + 1)})(x);
    x = MaxPooling2D({2, 2}, {.strides = {2, 2}, .name = block + "_pool"})(x);
  }
  if (o.include_top) {
    x = Flatten({.name = "flatten"})(x);
    x = Dense(4096, {.activation = "relu", .name = "fc1"})(x);
    x = Dense(4096, {.activation = "relu", .name = "fc2"})(x);
    x = Dense(o.classes, {.activation = classifier(o), .name = "predictions"})(x);
  } else {
    x = pool(o, x);
  }
  return finish(o, inputs, x, name);
}

//===----------------------------------------------------------------------===//
// ResNet50 (keras/src/applications/resnet.py: ResNet, residual_block_v1, stack_residual_blocks_v1)
//===----------------------------------------------------------------------===//

namespace {
constexpr double kResNetEpsilon = 1.001e-5;

Tensor bn(Tensor x, const std::string &name) {
  return BatchNormalization({.axis = 3, .epsilon = kResNetEpsilon, .name = name})(x);
}

Tensor residualBlockV1(Tensor x, int64_t filters, int64_t stride, bool convShortcut,
                       const std::string &name) {
  Tensor shortcut = x;
  if (convShortcut) {
    shortcut = Conv2D(4 * filters, 1, {.strides = {stride, stride}, .name = name + "_0_conv"})(x);
    shortcut = bn(shortcut, name + "_0_bn");
  }
  x = Conv2D(filters, 1, {.strides = {stride, stride}, .name = name + "_1_conv"})(x);
  x = bn(x, name + "_1_bn");
  x = Activation("relu", {.name = name + "_1_relu"})(x);
  x = Conv2D(filters, 3, {.padding = "same", .name = name + "_2_conv"})(x);
  x = bn(x, name + "_2_bn");
  x = Activation("relu", {.name = name + "_2_relu"})(x);
  x = Conv2D(4 * filters, 1, {.name = name + "_3_conv"})(x);
  x = bn(x, name + "_3_bn");
  x = Add({.name = name + "_add"})({shortcut, x});
  return Activation("relu", {.name = name + "_out"})(x);
}

Tensor stackV1(Tensor x, int64_t filters, int blocks, int64_t stride1, const std::string &name) {
  x = residualBlockV1(x, filters, stride1, true, name + "_block1");
  for (int i = 2; i <= blocks; ++i)
    x = residualBlockV1(x, filters, 1, false, name + "_block" + std::to_string(i));
  return x;
}
} // namespace

Model ResNet50(ApplicationOptions o) {
  std::string name = o.name.empty() ? "resnet50" : o.name;
  checkTop(o, name);
  auto [x, inputs] = modelInput(o, name);
  x = ZeroPadding2D(Sides2D({3, 3}, {3, 3}), {.name = "conv1_pad"})(x);
  x = Conv2D(64, 7, {.strides = {2, 2}, .name = "conv1_conv"})(x);
  x = bn(x, "conv1_bn");
  x = Activation("relu", {.name = "conv1_relu"})(x);
  x = ZeroPadding2D(Sides2D({1, 1}, {1, 1}), {.name = "pool1_pad"})(x);
  x = MaxPooling2D({3, 3}, {.strides = {2, 2}, .name = "pool1_pool"})(x);
  x = stackV1(x, 64, 3, 1, "conv2");
  x = stackV1(x, 128, 4, 2, "conv3");
  x = stackV1(x, 256, 6, 2, "conv4");
  x = stackV1(x, 512, 3, 2, "conv5");
  if (o.include_top) {
    x = GlobalAveragePooling2D({.name = "avg_pool"})(x);
    x = Dense(o.classes, {.activation = classifier(o), .name = "predictions"})(x);
  } else {
    x = pool(o, x, "avg_pool", "max_pool");
  }
  return finish(o, inputs, x, name);
}

//===----------------------------------------------------------------------===//
// MobileNet v1 (keras/src/applications/mobilenet.py: _conv_block, _depthwise_conv_block)
//===----------------------------------------------------------------------===//

namespace {
Tensor depthwiseConvBlock(Tensor x, int64_t pointwiseFilters, double alpha,
                          int64_t depthMultiplier, int64_t stride, int block) {
  std::string id = std::to_string(block);
  // Keras' int(filters * alpha): truncation toward zero.
  int64_t filters = static_cast<int64_t>(static_cast<double>(pointwiseFilters) * alpha);
  if (stride != 1)
    x = ZeroPadding2D(Sides2D({0, 1}, {0, 1}), {.name = "conv_pad_" + id})(x);
  x = DepthwiseConv2D(3, {.strides = {stride, stride},
                          .padding = stride == 1 ? "same" : "valid",
                          .depth_multiplier = depthMultiplier,
                          .use_bias = false,
                          .name = "conv_dw_" + id})(x);
  x = BatchNormalization({.axis = -1, .name = "conv_dw_" + id + "_bn"})(x);
  x = ReLU(6.0, {.name = "conv_dw_" + id + "_relu"})(x);
  x = Conv2D(filters, 1, {.padding = "same", .use_bias = false, .name = "conv_pw_" + id})(x);
  x = BatchNormalization({.axis = -1, .name = "conv_pw_" + id + "_bn"})(x);
  return ReLU(6.0, {.name = "conv_pw_" + id + "_relu"})(x);
}
} // namespace

Model MobileNet(ApplicationOptions o, MobileNetOptions m) {
  std::string model = o.name.empty() ? "mobilenet" : o.name;
  checkTop(o, model);
  if (!(m.alpha > 0))
    throw Error(model, "alpha must be positive, got " + std::to_string(m.alpha));
  if (m.depth_multiplier <= 0)
    throw Error(model, "depth_multiplier must be positive, got " +
                           std::to_string(m.depth_multiplier));
  auto [x, inputs] = modelInput(o, model);
  int64_t rows = x.shape()[1];
  if (int64_t(32 * m.alpha) <= 0)
    throw Error(model, "alpha " + std::to_string(m.alpha) + " leaves conv1 without filters");
  x = Conv2D(static_cast<int64_t>(32 * m.alpha), 3,
             {.strides = {2, 2}, .padding = "same", .use_bias = false, .name = "conv1"})(x);
  x = BatchNormalization({.axis = -1, .name = "conv1_bn"})(x);
  x = ReLU(6.0, {.name = "conv1_relu"})(x);
  struct Block {
    int64_t filters, stride;
  };
  const Block blocks[13] = {{64, 1},  {128, 2}, {128, 1}, {256, 2}, {256, 1},
                            {512, 2}, {512, 1}, {512, 1}, {512, 1}, {512, 1},
                            {512, 1}, {1024, 2}, {1024, 1}};
  for (int i = 0; i < 13; ++i)
    x = depthwiseConvBlock(x, blocks[i].filters, m.alpha, m.depth_multiplier, blocks[i].stride,
                           i + 1);
  if (o.include_top) {
    x = GlobalAveragePooling2D({.keepdims = true})(x);
    x = Dropout(m.dropout, {.name = "dropout"})(x);
    x = Conv2D(o.classes, 1, {.padding = "same", .name = "conv_preds"})(x);
    x = Reshape({o.classes}, {.name = "reshape_2"})(x);
    x = Activation(classifier(o), {.name = "predictions"})(x);
  } else {
    x = pool(o, x);
  }
  if (o.name.empty()) { // Keras: f"mobilenet_{alpha:0.2f}_{rows}"
    char buf[64];
    std::snprintf(buf, sizeof buf, "mobilenet_%0.2f_%lld", m.alpha, static_cast<long long>(rows));
    model = buf;
  }
  return finish(o, inputs, x, model);
}

} // namespace kiln::applications
