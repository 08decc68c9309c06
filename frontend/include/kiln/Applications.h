//===- Applications.h - keras.applications: VGG16, ResNet50, MobileNet -----===//
//
// The classic architectures a Keras user reaches for in transfer learning, built with the
// functional API layer for layer as keras.applications builds them (keras/src/applications/
// vgg16.py, resnet.py, mobilenet.py): the same layers, options and layer names, so a user's
// Keras .h5 weights file loads by layer name (Model::load_weights, or the `weights` option).
//
// kiln downloads nothing: `weights` is empty (Keras' weights=None, random initialization) or
// the path of a Keras weights file. Where kiln differs from Keras, the comments say so.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_APPLICATIONS_H
#define KILN_APPLICATIONS_H

#include "kiln/Layers.h"
#include "kiln/Model.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kiln::applications {

/// The arguments every application takes, as keras.applications spells them.
struct ApplicationOptions {
  /// The classifier on top (Flatten/Dense for VGG16, Dense for ResNet50, a 1x1 Conv2D for
  /// MobileNet); without it the model ends at the last convolution block.
  bool include_top = true;
  /// Empty: random initialization (Keras' weights=None). Otherwise the path of a Keras weights
  /// file (.h5 or .weights.h5), loaded by layer name after the model is built. "imagenet" is
  /// refused: kiln downloads nothing (load Keras' own file from its path instead).
  std::string weights;
  /// A tensor to build the model on (Keras' input_tensor): the model's inputs are the
  /// kiln::Input tensors it comes from.
  std::optional<Tensor> input_tensor;
  /// Per-sample (rows, cols, channels). Unset: 224x224x3. Keras leaves the rows and columns
  /// open (None) when include_top is false; kiln's shapes are static, so it uses 224x224x3
  /// there too. Rows and columns must be at least 32, as in Keras.
  std::optional<std::vector<int64_t>> input_shape;
  /// With include_top false: "" (the 4-D output of the last block), "avg"
  /// (GlobalAveragePooling2D) or "max" (GlobalMaxPooling2D).
  std::string pooling;
  /// The number of classes of the top.
  int64_t classes = 1000;
  /// The top's activation ("softmax", or "linear"/"" for logits).
  std::string classifier_activation = "softmax";
  /// The model's name; empty: Keras' ("vgg16", "resnet50", "mobilenet_1.00_224").
  std::string name;
};

/// keras.applications.VGG16: five blocks of 3x3 convolutions (block1_conv1 ... block5_pool),
/// then flatten, fc1, fc2 and predictions. 138,357,544 parameters at 224x224x3 with the top.
Model VGG16(ApplicationOptions options = {});

/// keras.applications.ResNet50 (ResNet v1, Keras' stack_fn of residual blocks with a 1x1
/// projection shortcut first in each stack): conv1_pad, conv1_conv, conv1_bn, conv1_relu,
/// pool1_pad, pool1_pool, conv2_block1_0_conv ... conv5_block3_out, then avg_pool and
/// predictions. BatchNormalization epsilon 1.001e-5. 25,636,712 parameters with the top.
Model ResNet50(ApplicationOptions options = {});

/// MobileNet's own arguments.
struct MobileNetOptions {
  /// The width multiplier: every layer has int(filters * alpha) filters.
  double alpha = 1.0;
  /// The depthwise convolutions' depth_multiplier.
  int64_t depth_multiplier = 1;
  /// The rate of the Dropout before the top's conv_preds.
  double dropout = 1e-3;
};
/// keras.applications.MobileNet (v1): conv1 / conv1_bn / conv1_relu (ReLU(6.)), then 13
/// depthwise-separable blocks conv_dw_N, conv_dw_N_bn, conv_dw_N_relu, conv_pw_N, conv_pw_N_bn,
/// conv_pw_N_relu (conv_pad_N before each strided one); the top is
/// GlobalAveragePooling2D(keepdims) -> dropout -> conv_preds (1x1 Conv2D) -> reshape_2 ->
/// predictions. 4,253,864 parameters at alpha 1 with the top.
Model MobileNet(ApplicationOptions options = {}, MobileNetOptions mobilenet = {});

} // namespace kiln::applications

#endif // KILN_APPLICATIONS_H
