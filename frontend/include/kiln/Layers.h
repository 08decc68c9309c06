//===- Layers.h - symbolic tensors and the Keras layers of the builder API -===//
//
// `kiln::Input` makes a symbolic tensor; calling a layer on tensors makes new ones and records
// the call, as in Keras' functional API. A layer object is a handle: copies refer to the same
// layer, so calling one layer object twice shares its weights.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_LAYERS_H
#define KILN_LAYERS_H

#include "kiln/Array.h"
#include "kiln/Initializers.h"
#include "kiln/Regularizers.h"

#include <nlohmann/json_fwd.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace kiln {

namespace detail {
struct LayerImpl;
struct TensorImpl;
} // namespace detail

/// A symbolic tensor: the output of Input or of a layer call. Its shape has -1 for the batch.
class Tensor {
public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<detail::TensorImpl> impl) : impl(std::move(impl)) {}
  /// The full shape, batch first (-1: any batch size).
  const std::vector<int64_t> &shape() const;
  /// Keras' shape string, `(None, 28, 28, 1)`.
  std::string shape_string() const;
  /// The name of the layer that produced it.
  const std::string &name() const;

  std::shared_ptr<detail::TensorImpl> impl;
};

struct InputOptions {
  std::string name;
};
/// A model input of per-sample `shape` (the batch is left out, as in keras.Input).
Tensor Input(std::vector<int64_t> shape, InputOptions options = {});

/// A Keras layer. Subclasses only construct; the handle is shared.
class Layer {
public:
  Tensor operator()(const Tensor &input) const;
  Tensor operator()(const std::vector<Tensor> &inputs) const;

  const std::string &name() const;
  const std::string &class_name() const;
  bool built() const;
  /// Weights in Keras' order (kernel, then bias), as copies; empty until the layer is built.
  std::vector<Array> get_weights() const;
  /// Replaces the weights; throws kiln::Error naming the layer on a count or shape mismatch.
  void set_weights(const std::vector<Array> &weights);
  /// Keras' weight names, `dense/kernel:0`.
  std::vector<std::string> weight_names() const;
  int64_t count_params() const;
  /// Keras' `layer.trainable`. A frozen layer's weights get no optimizer update and count as
  /// non-trainable in summary(); a frozen BatchNormalization also runs in inference mode during
  /// fit, as in Keras. As in Keras, call Model::compile again after changing it (fit refuses a
  /// model whose trainable flags changed since compile).
  bool trainable() const;
  void set_trainable(bool trainable);
  /// Every output of a call on `input`, in Keras' order: a recurrent layer with return_state
  /// gives [output, state_h] (LSTM: [output, state_h, state_c]); other layers give one tensor.
  /// (operator() refuses a layer with several outputs, so that no state is dropped silently.)
  std::vector<Tensor> call_all(const Tensor &input) const;
  /// Keras' layer config ({"name": ..., "trainable": ..., "dtype": ..., "units": ...}), Keras 3
  /// spelling; kiln/Saving.h has the full nlohmann::json and layer_from_config.
  nlohmann::json get_config() const;

  std::shared_ptr<detail::LayerImpl> impl;

protected:
  Layer() = default;
  explicit Layer(std::shared_ptr<detail::LayerImpl> impl) : impl(std::move(impl)) {}
  friend class Model;
};

namespace layers {

struct DenseOptions {
  std::string activation = "linear";
  bool use_bias = true;
  Initializer kernel_initializer = "glorot_uniform";
  Initializer bias_initializer = "zeros";
  std::optional<Regularizer> kernel_regularizer, bias_regularizer, activity_regularizer;
  std::optional<Constraint> kernel_constraint, bias_constraint;
  std::string name;
};
/// `activation(x @ kernel + bias)` over the last axis; kernel (in, units).
class Dense : public Layer {
public:
  explicit Dense(int64_t units, DenseOptions options = {});
};

struct Conv2DOptions {
  std::array<int64_t, 2> strides = {1, 1};
  std::string padding = "valid";
  std::array<int64_t, 2> dilation_rate = {1, 1};
  /// Keras' groups: the input channels and the filters split into `groups` independent
  /// convolutions; the kernel is (kh, kw, in / groups, filters).
  int64_t groups = 1;
  std::string activation = "linear";
  bool use_bias = true;
  Initializer kernel_initializer = "glorot_uniform";
  Initializer bias_initializer = "zeros";
  std::optional<Regularizer> kernel_regularizer, bias_regularizer, activity_regularizer;
  std::optional<Constraint> kernel_constraint, bias_constraint;
  std::string data_format = "channels_last";
  std::string name;
};
/// 2-D convolution over NHWC input with an HWIO kernel (kh, kw, in, filters).
class Conv2D : public Layer {
public:
  Conv2D(int64_t filters, std::array<int64_t, 2> kernel_size, Conv2DOptions options = {});
  Conv2D(int64_t filters, int64_t kernel_size, Conv2DOptions options = {})
      : Conv2D(filters, {kernel_size, kernel_size}, std::move(options)) {}
};

struct Pooling2DOptions {
  /// Empty: the pool size, as in Keras.
  std::vector<int64_t> strides;
  std::string padding = "valid";
  std::string data_format = "channels_last";
  std::string name;
};
class MaxPooling2D : public Layer {
public:
  explicit MaxPooling2D(std::array<int64_t, 2> pool_size = {2, 2}, Pooling2DOptions options = {});
};
class AveragePooling2D : public Layer {
public:
  explicit AveragePooling2D(std::array<int64_t, 2> pool_size = {2, 2},
                            Pooling2DOptions options = {});
};

struct NameOptions {
  std::string name;
};
/// Flattens every sample to one dimension.
class Flatten : public Layer {
public:
  explicit Flatten(NameOptions options = {});
};
/// Reshapes every sample to `target_shape` (batch left out; one entry may be -1).
class Reshape : public Layer {
public:
  explicit Reshape(std::vector<int64_t> target_shape, NameOptions options = {});
};
/// Applies a named activation: relu, sigmoid, tanh, softmax, elu, selu, softplus, softsign,
/// swish / silu, gelu, leaky_relu, hard_sigmoid, exponential, linear.
class Activation : public Layer {
public:
  explicit Activation(std::string activation, NameOptions options = {});
};

struct ReLUOptions {
  /// The largest output (Keras' max_value; unset: no bound). ReLU(6.0) is MobileNet's relu6.
  std::optional<double> max_value;
  /// The slope below zero (Keras' negative_slope).
  double negative_slope = 0.0;
  /// Keras' threshold. kiln supports only 0 (refused otherwise, naming the layer).
  double threshold = 0.0;
  std::string name;
};
/// Keras' ReLU layer: `min(max(x, 0), max_value) - negative_slope * max(-x, 0)`.
class ReLU : public Layer {
public:
  explicit ReLU(ReLUOptions options = {});
  /// Keras' positional form, `ReLU(6.0, name=...)`.
  explicit ReLU(double max_value, ReLUOptions options = {});
};

struct DropoutOptions {
  std::optional<uint64_t> seed;
  std::string name;
};
/// Identity at inference; drops `rate` of the elements in training.
class Dropout : public Layer {
public:
  explicit Dropout(double rate, DropoutOptions options = {});
};

/// Keras' GaussianNoise: identity at inference; in training adds N(0, stddev^2) noise to every
/// element (seeded like Dropout's mask: reproducible, a new draw each step).
class GaussianNoise : public Layer {
public:
  explicit GaussianNoise(double stddev, DropoutOptions options = {});
};
/// Keras' GaussianDropout: identity at inference; in training multiplies every element by
/// noise of mean 1 and standard deviation sqrt(rate / (1 - rate)).
class GaussianDropout : public Layer {
public:
  explicit GaussianDropout(double rate, DropoutOptions options = {});
};
struct SpatialDropout2DOptions {
  /// channels_last (NHWC) or channels_first (NCHW): which axis holds the channels.
  std::string data_format = "channels_last";
  std::optional<uint64_t> seed;
  std::string name;
};
/// Keras' SpatialDropout2D: identity at inference; in training drops whole channels of a rank-4
/// input (one draw per sample and channel, `rate` of them) and scales the others by
/// 1 / (1 - rate).
class SpatialDropout2D : public Layer {
public:
  explicit SpatialDropout2D(double rate, SpatialDropout2DOptions options = {});
};

struct BatchNormalizationOptions {
  int64_t axis = -1;
  double momentum = 0.99, epsilon = 1e-3;
  bool center = true, scale = true;
  Initializer beta_initializer = "zeros", gamma_initializer = "ones";
  Initializer moving_mean_initializer = "zeros", moving_variance_initializer = "ones";
  std::string name;
};
/// Keras' BatchNormalization: in training, normalizes with the batch's mean and variance over
/// every axis but `axis` and moves the non-trainable moving_mean / moving_variance toward them
/// (`moving = moving * momentum + batch * (1 - momentum)`); in inference, uses the moving
/// statistics. Weights: gamma, beta (trainable), moving_mean, moving_variance.
class BatchNormalization : public Layer {
public:
  explicit BatchNormalization(BatchNormalizationOptions options = {});
};

struct GlobalPoolingOptions {
  std::string data_format = "channels_last";
  /// Keep the pooled axes with size 1: (batch, 1, 1, channels) instead of (batch, channels).
  bool keepdims = false;
  std::string name;
};
/// The mean over rows and columns of an NHWC input: (batch, channels).
class GlobalAveragePooling2D : public Layer {
public:
  explicit GlobalAveragePooling2D(GlobalPoolingOptions options = {});
};
/// The maximum over rows and columns of an NHWC input: (batch, channels).
class GlobalMaxPooling2D : public Layer {
public:
  explicit GlobalMaxPooling2D(GlobalPoolingOptions options = {});
};
/// The mean over the steps of a (batch, steps, features) input: (batch, features).
class GlobalAveragePooling1D : public Layer {
public:
  explicit GlobalAveragePooling1D(GlobalPoolingOptions options = {});
};
/// The maximum over the steps of a (batch, steps, features) input: (batch, features).
class GlobalMaxPooling1D : public Layer {
public:
  explicit GlobalMaxPooling1D(GlobalPoolingOptions options = {});
};

struct LayerNormalizationOptions {
  /// The normalized axes (negative counts from the end; never the batch), increasing.
  std::vector<int64_t> axis = {-1};
  double epsilon = 1e-3;
  bool center = true, scale = true;
  Initializer beta_initializer = "zeros", gamma_initializer = "ones";
  std::string name;
};
/// Keras' LayerNormalization: every sample is normalized with its own mean and (biased)
/// variance over `axis`, then scaled by gamma and shifted by beta, both shaped like the
/// normalized axes. Weights: gamma, beta. The same in training and inference.
class LayerNormalization : public Layer {
public:
  explicit LayerNormalization(LayerNormalizationOptions options = {});
};

/// The padding or cropping argument of ZeroPadding2D and Cropping2D, as Keras takes it: one
/// int for every side, {rows, cols} for symmetric amounts, or {{top, bottom}, {left, right}}.
struct Sides2D {
  Sides2D(int64_t all) : top(all), bottom(all), left(all), right(all) {}
  Sides2D(int64_t rows, int64_t cols) : top(rows), bottom(rows), left(cols), right(cols) {}
  Sides2D(std::array<int64_t, 2> rows, std::array<int64_t, 2> cols)
      : top(rows[0]), bottom(rows[1]), left(cols[0]), right(cols[1]) {}
  int64_t top, bottom, left, right;
};
struct Spatial2DOptions {
  std::string data_format = "channels_last";
  std::string name;
};
/// Adds rows and columns of zeros around an NHWC input.
class ZeroPadding2D : public Layer {
public:
  explicit ZeroPadding2D(Sides2D padding = 1, Spatial2DOptions options = {});
};
/// Removes rows and columns from the edges of an NHWC input.
class Cropping2D : public Layer {
public:
  explicit Cropping2D(Sides2D cropping = 0, Spatial2DOptions options = {});
};

struct UpSampling2DOptions {
  std::string data_format = "channels_last";
  /// Only "nearest": each cell is repeated size[0] x size[1] times.
  std::string interpolation = "nearest";
  std::string name;
};
/// Repeats the rows of an NHWC input size[0] times and its columns size[1] times.
class UpSampling2D : public Layer {
public:
  explicit UpSampling2D(std::array<int64_t, 2> size = {2, 2}, UpSampling2DOptions options = {});
  explicit UpSampling2D(int64_t size, UpSampling2DOptions options = {})
      : UpSampling2D({size, size}, std::move(options)) {}
};

/// Permutes the per-sample axes: `dims` is a permutation of 1..rank-1 (the batch stays
/// first), e.g. {2, 1} swaps the two axes of a (batch, steps, features) input.
class Permute : public Layer {
public:
  explicit Permute(std::vector<int64_t> dims, NameOptions options = {});
};
/// Repeats a (batch, features) input n times: (batch, n, features).
class RepeatVector : public Layer {
public:
  explicit RepeatVector(int64_t n, NameOptions options = {});
};

/// Elementwise sum of inputs of one shape.
class Add : public Layer {
public:
  explicit Add(NameOptions options = {});
};
/// Elementwise product of inputs of one shape.
class Multiply : public Layer {
public:
  explicit Multiply(NameOptions options = {});
};
/// `inputs[0] - inputs[1]`: exactly two inputs of one shape.
class Subtract : public Layer {
public:
  explicit Subtract(NameOptions options = {});
};
/// Elementwise mean of inputs of one shape: their sum divided by their count.
class Average : public Layer {
public:
  explicit Average(NameOptions options = {});
};
/// Elementwise maximum of inputs of one shape.
class Maximum : public Layer {
public:
  explicit Maximum(NameOptions options = {});
};
/// Elementwise minimum of inputs of one shape.
class Minimum : public Layer {
public:
  explicit Minimum(NameOptions options = {});
};

struct ConcatenateOptions {
  int64_t axis = -1;
  std::string name;
};
class Concatenate : public Layer {
public:
  explicit Concatenate(ConcatenateOptions options = {});
};

//===----------------------------------------------------------------------===//
// Convolution family (issue 6): Conv1D, 1-D pooling, DepthwiseConv2D, SeparableConv2D,
// Conv2DTranspose, and Dot.
//===----------------------------------------------------------------------===//

struct Conv1DOptions {
  int64_t strides = 1;
  /// "valid", "same" or "causal" (zeros only before the steps: output t sees inputs <= t).
  std::string padding = "valid";
  int64_t dilation_rate = 1;
  int64_t groups = 1;
  std::string activation = "linear";
  bool use_bias = true;
  Initializer kernel_initializer = "glorot_uniform";
  Initializer bias_initializer = "zeros";
  std::optional<Regularizer> kernel_regularizer, bias_regularizer, activity_regularizer;
  std::optional<Constraint> kernel_constraint, bias_constraint;
  std::string data_format = "channels_last";
  std::string name;
};
/// 1-D convolution over a (batch, steps, channels) input; kernel (k, in / groups, filters).
class Conv1D : public Layer {
public:
  Conv1D(int64_t filters, int64_t kernel_size, Conv1DOptions options = {});
};

struct Pooling1DOptions {
  /// Unset: the pool size, as in Keras.
  std::optional<int64_t> strides;
  std::string padding = "valid";
  std::string data_format = "channels_last";
  std::string name;
};
/// Max over windows of steps of a (batch, steps, channels) input.
class MaxPooling1D : public Layer {
public:
  explicit MaxPooling1D(int64_t pool_size = 2, Pooling1DOptions options = {});
};
/// Mean over windows of steps of a (batch, steps, channels) input (padding not counted).
class AveragePooling1D : public Layer {
public:
  explicit AveragePooling1D(int64_t pool_size = 2, Pooling1DOptions options = {});
};

struct DepthwiseConv2DOptions {
  std::array<int64_t, 2> strides = {1, 1};
  std::string padding = "valid";
  int64_t depth_multiplier = 1;
  std::array<int64_t, 2> dilation_rate = {1, 1};
  std::string activation = "linear";
  bool use_bias = true;
  Initializer depthwise_initializer = "glorot_uniform";
  Initializer bias_initializer = "zeros";
  std::optional<Regularizer> depthwise_regularizer, bias_regularizer, activity_regularizer;
  std::optional<Constraint> depthwise_constraint, bias_constraint;
  std::string data_format = "channels_last";
  std::string name;
};
/// Each input channel convolved with its own depth_multiplier filters: depthwise_kernel
/// (kh, kw, in, depth_multiplier), output channel c * depth_multiplier + m.
class DepthwiseConv2D : public Layer {
public:
  DepthwiseConv2D(std::array<int64_t, 2> kernel_size, DepthwiseConv2DOptions options = {});
  explicit DepthwiseConv2D(int64_t kernel_size, DepthwiseConv2DOptions options = {})
      : DepthwiseConv2D({kernel_size, kernel_size}, std::move(options)) {}
};

struct SeparableConv2DOptions {
  std::array<int64_t, 2> strides = {1, 1};
  std::string padding = "valid";
  std::array<int64_t, 2> dilation_rate = {1, 1};
  int64_t depth_multiplier = 1;
  std::string activation = "linear";
  bool use_bias = true;
  Initializer depthwise_initializer = "glorot_uniform";
  Initializer pointwise_initializer = "glorot_uniform";
  Initializer bias_initializer = "zeros";
  std::optional<Regularizer> depthwise_regularizer, pointwise_regularizer, bias_regularizer,
      activity_regularizer;
  std::optional<Constraint> depthwise_constraint, pointwise_constraint, bias_constraint;
  std::string data_format = "channels_last";
  std::string name;
};
/// A DepthwiseConv2D followed by a 1x1 convolution to `filters`: weights depthwise_kernel
/// (kh, kw, in, depth_multiplier), pointwise_kernel (1, 1, in * depth_multiplier, filters),
/// bias (filters).
class SeparableConv2D : public Layer {
public:
  SeparableConv2D(int64_t filters, std::array<int64_t, 2> kernel_size,
                  SeparableConv2DOptions options = {});
  SeparableConv2D(int64_t filters, int64_t kernel_size, SeparableConv2DOptions options = {})
      : SeparableConv2D(filters, {kernel_size, kernel_size}, std::move(options)) {}
};

/// Options of Conv2DTranspose; Keras' output_padding is not supported (always None).
using Conv2DTransposeOptions = Conv2DOptions;
/// The transposed convolution (the gradient of a Conv2D with respect to its input): kernel
/// (kh, kw, filters, in); output rows `in * stride` ("same") or
/// `in * stride + max(k - stride, 0)` ("valid"), with k the dilated kernel size.
class Conv2DTranspose : public Layer {
public:
  Conv2DTranspose(int64_t filters, std::array<int64_t, 2> kernel_size,
                  Conv2DTransposeOptions options = {});
  Conv2DTranspose(int64_t filters, int64_t kernel_size, Conv2DTransposeOptions options = {})
      : Conv2DTranspose(filters, {kernel_size, kernel_size}, std::move(options)) {}
};

struct DotOptions {
  /// L2-normalize both inputs along their dot axes first (Keras' cosine proximity).
  bool normalize = false;
  std::string name;
};
/// Keras' Dot of two inputs of rank 2 or 3 (batch included): sums the products along
/// axes[0] of the first and axes[1] of the second (negative counts from the end). Rank 2:
/// (batch, 1); rank 3: (batch, n, m) from the remaining axes of each.
class Dot : public Layer {
public:
  Dot(std::array<int64_t, 2> axes, DotOptions options = {});
  explicit Dot(int64_t axes, DotOptions options = {}) : Dot({axes, axes}, std::move(options)) {}
};

//===----------------------------------------------------------------------===//
// 3-D layers (issue 6): Conv3D and the 3-D pools over (batch, depth, rows, cols, channels).
//===----------------------------------------------------------------------===//

struct Conv3DOptions {
  std::array<int64_t, 3> strides = {1, 1, 1};
  std::string padding = "valid";
  std::array<int64_t, 3> dilation_rate = {1, 1, 1};
  /// Only 1 (kiln's Conv3D has no groups).
  int64_t groups = 1;
  std::string activation = "linear";
  bool use_bias = true;
  Initializer kernel_initializer = "glorot_uniform";
  Initializer bias_initializer = "zeros";
  std::optional<Regularizer> kernel_regularizer, bias_regularizer, activity_regularizer;
  std::optional<Constraint> kernel_constraint, bias_constraint;
  std::string data_format = "channels_last";
  std::string name;
};
/// 3-D convolution over an NDHWC input with a (kd, kh, kw, in, filters) kernel; each output
/// depth is the sum over the kernel's depth of 2-D convolutions of input depth slices.
class Conv3D : public Layer {
public:
  Conv3D(int64_t filters, std::array<int64_t, 3> kernel_size, Conv3DOptions options = {});
  Conv3D(int64_t filters, int64_t kernel_size, Conv3DOptions options = {})
      : Conv3D(filters, {kernel_size, kernel_size, kernel_size}, std::move(options)) {}
};

struct Pooling3DOptions {
  /// Empty: the pool size, as in Keras; one entry: the same for every axis.
  std::vector<int64_t> strides;
  std::string padding = "valid";
  std::string data_format = "channels_last";
  std::string name;
};
/// Max over (depth, rows, cols) windows of an NDHWC input.
class MaxPooling3D : public Layer {
public:
  explicit MaxPooling3D(std::array<int64_t, 3> pool_size = {2, 2, 2},
                        Pooling3DOptions options = {});
};
/// Mean over (depth, rows, cols) windows of an NDHWC input (padding not counted).
class AveragePooling3D : public Layer {
public:
  explicit AveragePooling3D(std::array<int64_t, 3> pool_size = {2, 2, 2},
                            Pooling3DOptions options = {});
};

struct EmbeddingOptions {
  Initializer embeddings_initializer = initializers::RandomUniform(-0.05, 0.05);
  /// Keras' mask_zero: index 0 is padding. The output carries a mask (the input's entries
  /// that are not 0) that the layers after it pass on (Dense, Activation, Dropout,
  /// TimeDistributed, the normalizations) to the layers that honour it: SimpleRNN, LSTM, GRU
  /// and Bidirectional skip masked steps, GlobalAveragePooling1D averages the unmasked ones.
  bool mask_zero = false;
  std::string name;
};
/// Keras' Embedding: row `x` of the (input_dim, output_dim) table `embeddings` for every
/// integer-valued entry of a (batch, ...) input (given as floats, truncated toward zero, as
/// Keras casts them). An index outside [0, input_dim) is refused by predict, fit and evaluate
/// with an error naming the layer (compiled code clamps it).
class Embedding : public Layer {
public:
  Embedding(int64_t input_dim, int64_t output_dim, EmbeddingOptions options = {});
};

/// Keras' Masking over a (batch, steps, features) input: a step whose features all equal
/// `mask_value` is masked (as Embedding's mask_zero masks index 0) and its features set to 0.
class Masking : public Layer {
public:
  explicit Masking(double mask_value = 0.0, NameOptions options = {});
};

/// The options of SimpleRNN, LSTM and GRU (each uses the ones its Keras class has).
struct RecurrentOptions {
  std::string activation = "tanh";
  /// LSTM and GRU only (Keras 2.3+ / Keras 3 default: sigmoid).
  std::string recurrent_activation = "sigmoid";
  bool use_bias = true;
  Initializer kernel_initializer = "glorot_uniform";
  Initializer recurrent_initializer = "orthogonal";
  Initializer bias_initializer = "zeros";
  /// LSTM only: the forget gate's bias starts at 1 (added to bias_initializer's values).
  bool unit_forget_bias = true;
  /// The whole sequence (batch, steps, units) instead of the last output (batch, units).
  bool return_sequences = false;
  /// Also return the last state(s): use Layer::call_all.
  bool return_state = false;
  /// Process the steps last to first (the returned sequence is in processing order).
  bool go_backwards = false;
  /// Accepted for compatibility; kiln always unrolls (sequence lengths are static).
  bool unroll = false;
  /// In training only: the fraction of the inputs (dropout) and of the state fed to the
  /// recurrent kernel (recurrent_dropout) dropped, with one mask per sequence (Keras'
  /// variational dropout; kiln's masks, not TensorFlow's random stream).
  double dropout = 0.0, recurrent_dropout = 0.0;
  /// Seeds the dropout masks (Keras 3's seed); unset: derived from the layer's name.
  std::optional<uint64_t> seed;
  /// Keras' zero_output_for_mask: with return_sequences, a masked step's output is zeros
  /// instead of the previous step's output (Bidirectional sets it to return_sequences).
  bool zero_output_for_mask = false;
  /// GRU only: apply the reset gate after the recurrent matmul (Keras 2.x/3 default), with a
  /// (2, 3 * units) bias (input and recurrent biases).
  bool reset_after = true;
  std::string name;
};
/// On a masked input (Embedding(mask_zero), Masking) a recurrent layer keeps its state over
/// the masked steps; with return_sequences a masked step's output is the previous step's output
/// (Keras 3's default, zero_output_for_mask=False; zeros inside a Bidirectional, which forces
/// zero_output_for_mask to return_sequences) and the output carries the mask on.
/// Keras' SimpleRNN over a (batch, steps, features) input: h = activation(x W + h U + b).
/// Weights: kernel (features, units), recurrent_kernel (units, units), bias (units).
class SimpleRNN : public Layer {
public:
  explicit SimpleRNN(int64_t units, RecurrentOptions options = {});
};
/// Keras' LSTM: gates i, f, c, o in that order along the last axis of kernel (features, 4u),
/// recurrent_kernel (u, 4u) and bias (4u).
class LSTM : public Layer {
public:
  explicit LSTM(int64_t units, RecurrentOptions options = {});
};
/// Keras' GRU: gates z, r, h along the last axis of kernel (features, 3u) and
/// recurrent_kernel (u, 3u); bias (2, 3u) with reset_after, else (3u).
class GRU : public Layer {
public:
  explicit GRU(int64_t units, RecurrentOptions options = {});
};

/// Applies `layer` (a new, unbuilt layer of one input and output) to every step of a
/// (batch, steps, ...) input with one set of weights; its weights are the wrapper's
/// ("time_distributed/kernel:0").
class TimeDistributed : public Layer {
public:
  explicit TimeDistributed(const Layer &layer, NameOptions options = {});
};

struct BidirectionalOptions {
  /// How the two directions' outputs combine: concat (last axis), sum, mul or ave.
  std::string merge_mode = "concat";
  std::string name;
};
/// Runs a new, unbuilt SimpleRNN / LSTM / GRU forward and a copy of it backward (go_backwards
/// flipped; with return_sequences its outputs are put back in step order) and merges them.
/// Weights: the forward layer's, then the backward one's ("bidirectional/forward_lstm/...").
/// With return_state: [output, forward states..., backward states...].
class Bidirectional : public Layer {
public:
  explicit Bidirectional(const Layer &layer, BidirectionalOptions options = {});
};

} // namespace layers

namespace backend {
/// Resets the automatic layer and model names (dense, dense_1, ...), as Keras' clear_session.
void clear_session();
} // namespace backend

} // namespace kiln

#endif // KILN_LAYERS_H
