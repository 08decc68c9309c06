//===- Layers.cpp - Keras layers: shapes, weights and the kiln ops they emit -===//
#include "Impl.h"

#include "ir/KilnOps.h"

#include "mlir/IR/BuiltinTypes.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>
#include <mutex>
#include <set>

namespace kiln {
namespace detail {
using namespace kiln::layers;

namespace {
std::mutex namesMutex;
std::map<std::string, int64_t> &nameCounters() {
  static std::map<std::string, int64_t> counters;
  return counters;
}

mlir::RankedTensorType tensorType(mlir::OpBuilder &b, const Shape &shape) {
  llvm::SmallVector<int64_t> dims;
  for (int64_t d : shape)
    dims.push_back(d < 0 ? mlir::ShapedType::kDynamic : d);
  return mlir::RankedTensorType::get(dims, b.getF32Type());
}

/// The static shape of `v` with the batch as -1, as outputShape() takes it.
Shape sampleShape(mlir::Value v) {
  auto t = llvm::cast<mlir::RankedTensorType>(v.getType());
  Shape s(t.getShape().begin(), t.getShape().end());
  s[0] = -1;
  return s;
}

/// The output length of a window of `size` (dilated) moved by `stride` over `in` cells.
int64_t windowOutput(int64_t in, int64_t size, int64_t stride, int64_t dilation,
                     const std::string &padding) {
  if (padding == "same")
    return (in + stride - 1) / stride;
  int64_t span = (size - 1) * dilation + 1;
  return in < span ? 0 : (in - span) / stride + 1;
}

void checkPadding(const LayerImpl &l, const std::string &padding) {
  if (padding != "valid" && padding != "same")
    throw l.error("padding must be 'valid' or 'same', got '" + padding + "'");
}

void checkChannelsLast(const LayerImpl &l, const std::string &format) {
  if (format != "channels_last")
    throw l.error("data_format '" + format +
                  "' is not supported; kiln's 2-D layers are channels_last (NHWC)");
}

void checkPositive(const LayerImpl &l, const std::string &what, int64_t v) {
  if (v <= 0)
    throw l.error(what + " must be a positive integer, got " + std::to_string(v));
}

void checkRank(const LayerImpl &l, const Shape &in, size_t rank, const std::string &what) {
  if (in.size() != rank)
    throw l.error("expected " + what + " input of rank " + std::to_string(rank) +
                  " (batch included), got shape " + shapeString(in));
}

std::string stem(const std::string &name, const std::string &cls) {
  return name.empty() ? uniqueName(cls) : name;
}

/// kiln.conv2d of an NHWC `x` with an HWIO kernel `k` in `groups` independent convolutions
/// (Keras' groups: consecutive blocks of input channels and of kernel outputs), each a slice
/// of `x` and `k`, concatenated; `out` is the result shape, batch -1.
mlir::Value groupedConv(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x, mlir::Value k,
                        int64_t groups, llvm::ArrayRef<int64_t> strides,
                        llvm::ArrayRef<int64_t> dilations, const std::string &padding,
                        const Shape &out) {
  using namespace mlir::kiln;
  auto st = b.getDenseI64ArrayAttr(strides), dl = b.getDenseI64ArrayAttr(dilations);
  auto pad = b.getStringAttr(padding);
  if (groups == 1)
    return Conv2DOp::create(b, loc, tensorType(b, out), x, k, st, dl, pad);
  auto xt = llvm::cast<mlir::RankedTensorType>(x.getType());
  auto kt = llvm::cast<mlir::RankedTensorType>(k.getType());
  Shape xs(xt.getShape().begin(), xt.getShape().end());
  xs[0] = -1;
  Shape ks(kt.getShape().begin(), kt.getShape().end());
  int64_t cin = ks[2], cout = ks[3] / groups;
  llvm::SmallVector<mlir::Value> parts;
  auto i64 = [&](int64_t v) { return b.getI64IntegerAttr(v); };
  for (int64_t g = 0; g < groups; ++g) {
    Shape xg = xs, kg = ks, og = out;
    xg[3] = cin;
    kg[3] = cout;
    og[3] = cout;
    mlir::Value xv = SliceOp::create(b, loc, tensorType(b, xg), x, i64(3), i64(g * cin), i64(cin));
    mlir::Value kv =
        SliceOp::create(b, loc, tensorType(b, kg), k, i64(3), i64(g * cout), i64(cout));
    parts.push_back(Conv2DOp::create(b, loc, tensorType(b, og), xv, kv, st, dl, pad));
  }
  return ConcatOp::create(b, loc, tensorType(b, out), parts, i64(3));
}

/// `activation(y + bias)`, the bias left out when null.
mlir::Value biasActivation(mlir::OpBuilder &b, mlir::Location loc, mlir::Value y,
                           mlir::Value bias, const std::string &activation) {
  if (bias)
    y = mlir::kiln::AddOp::create(b, loc, y.getType(), y, bias);
  return emitActivation(b, loc, activation, y);
}
} // namespace

std::string uniqueName(const std::string &base, bool zeroBased) {
  std::lock_guard<std::mutex> lock(namesMutex);
  int64_t &n = nameCounters()[base];
  int64_t k = n++;
  if (zeroBased)
    return k == 0 ? base : base + "_" + std::to_string(k);
  return base + "_" + std::to_string(k + 1);
}

std::string shapeString(const Shape &shape) { return Array::shapeString(shape); }

LayerImpl::LayerImpl(std::string className, std::string name)
    : className(std::move(className)), name(std::move(name)) {}

Weight &LayerImpl::addWeight(const std::string &suffix, const Shape &shape,
                             const Initializer &init, bool trainable) {
  // Sizes come from user code or a model file's config: refuse, rather than try to allocate, a
  // weight past the 2^32 elements kiln reads from files.
  int64_t count = 1;
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(count, d, &count) || count > (int64_t(1) << 32))
      throw error("weight '" + suffix + "' of shape " + shapeString(shape) +
                  " has more elements than kiln allows (2^32)");
  try {
    weights.push_back(
        {name + "/" + suffix + ":0", init(shape), trainable && this->trainable, trainable});
    return weights.back();
  } catch (const Error &) {
    throw;
  } catch (const std::runtime_error &e) { // Array's out-of-memory report
    throw error("cannot create weight '" + suffix + "': " + e.what());
  }
}

void LayerImpl::setTrainable(bool on) {
  trainable = on;
  for (Weight &w : weights)
    w.trainable = on && w.variableTrainable;
}

int64_t LayerImpl::countParams() const {
  int64_t n = 0;
  for (const Weight &w : weights)
    n += w.value.size();
  return n;
}

//===----------------------------------------------------------------------===//
// Activations.
//===----------------------------------------------------------------------===//

namespace {
const std::set<std::string> &activationNames() {
  static const std::set<std::string> names = {
      "linear", "relu", "sigmoid", "tanh", "softmax", "elu", "selu", "softplus", "softsign",
      "swish", "silu", "gelu", "leaky_relu", "hard_sigmoid", "exponential"};
  return names;
}
} // namespace

void checkActivation(const std::string &layer, const std::string &activation) {
  if (!activationNames().count(activation)) {
    std::string known;
    for (const std::string &n : activationNames())
      known += (known.empty() ? "" : ", ") + n;
    throw Error(layer, "unknown activation '" + activation + "' (kiln knows " + known + ")");
  }
}

mlir::Value emitActivation(mlir::OpBuilder &b, mlir::Location loc, const std::string &a,
                           mlir::Value x) {
  using namespace mlir::kiln;
  mlir::Type t = x.getType();
  if (a == "linear")
    return x;
  if (a == "relu")
    return ReluOp::create(b, loc, t, x);
  if (a == "sigmoid")
    return SigmoidOp::create(b, loc, t, x);
  if (a == "tanh")
    return TanhOp::create(b, loc, t, x);
  if (a == "softmax")
    return SoftmaxOp::create(b, loc, t, x, b.getI64IntegerAttr(-1));
  if (a == "elu")
    return EluOp::create(b, loc, t, x, b.getF32FloatAttr(1.0f));
  if (a == "selu")
    return SeluOp::create(b, loc, t, x);
  if (a == "softplus")
    return SoftplusOp::create(b, loc, t, x);
  if (a == "softsign")
    return SoftsignOp::create(b, loc, t, x);
  if (a == "swish" || a == "silu")
    return SiluOp::create(b, loc, t, x);
  if (a == "gelu") // Keras' activations.gelu: approximate=False
    return GeluOp::create(b, loc, t, x, b.getBoolAttr(false));
  if (a == "leaky_relu") // Keras 3's activations.leaky_relu: negative_slope=0.2
    return LeakyReluOp::create(b, loc, t, x, b.getF32FloatAttr(0.2f));
  if (a == "hard_sigmoid") // Keras 3: relu6(x + 3) / 6
    return HardSigmoidOp::create(b, loc, t, x, b.getF32FloatAttr(1.0f / 6.0f),
                                 b.getF32FloatAttr(0.5f));
  if (a == "exponential")
    return ExpOp::create(b, loc, t, x);
  throw Error("", "unknown activation '" + a + "'");
}

//===----------------------------------------------------------------------===//
// Calls.
//===----------------------------------------------------------------------===//

std::shared_ptr<TensorImpl> callLayer(const std::shared_ptr<LayerImpl> &layer,
                                      const std::vector<std::shared_ptr<TensorImpl>> &inputs) {
  return callLayerAll(layer, inputs)[0];
}

std::vector<std::shared_ptr<TensorImpl>>
callLayerAll(const std::shared_ptr<LayerImpl> &layer,
             const std::vector<std::shared_ptr<TensorImpl>> &inputs) {
  if (inputs.empty())
    throw layer->error("called on no tensors");
  for (const auto &t : inputs)
    if (!t)
      throw layer->error("called on an empty kiln::Tensor (make tensors with kiln::Input or "
                         "by calling a layer)");
  int arity = layer->arity();
  if (arity == 1 && inputs.size() != 1)
    throw layer->error("expects 1 input, got " + std::to_string(inputs.size()));
  if (arity == 0 && inputs.size() < 2)
    throw layer->error("a merge layer expects at least 2 inputs, got " +
                       std::to_string(inputs.size()));
  std::vector<Shape> shapes;
  for (const auto &t : inputs)
    shapes.push_back(t->shape);
  if (layer->built && arity == 1 && shapes[0] != layer->builtInputShape)
    throw layer->error("was built for input shape " + shapeString(layer->builtInputShape) +
                       " and cannot be called on shape " + shapeString(shapes[0]) +
                       " (a shared layer's calls must agree)");
  Shape out = layer->outputShape(shapes);
  std::vector<Shape> extra = layer->extraOutputShapes(shapes);
  if (!layer->built) {
    layer->build(shapes);
    layer->built = true;
    layer->builtInputShape = shapes[0];
  }
  auto t = std::make_shared<TensorImpl>();
  t->shape = std::move(out);
  t->layer = layer;
  t->nodeIndex = static_cast<int>(layer->calls.size());
  t->inputs = inputs;
  layer->calls.push_back(t);
  std::vector<std::shared_ptr<TensorImpl>> all = {t};
  for (size_t i = 0; i < extra.size(); ++i) {
    auto s = std::make_shared<TensorImpl>(*t);
    s->shape = extra[i];
    s->tensorIndex = static_cast<int>(i + 1);
    s->primary = t;
    all.push_back(s);
  }
  if (all.size() > 1)
    for (const auto &o : all)
      t->outputs.push_back(o);
  return all;
}

//===----------------------------------------------------------------------===//
// The layers.
//===----------------------------------------------------------------------===//

namespace {

struct InputLayerImpl : LayerImpl {
  using LayerImpl::LayerImpl;
  Shape outputShape(const std::vector<Shape> &in) const override { return in[0]; }
  mlir::Value emit(mlir::OpBuilder &, mlir::Location, mlir::ValueRange inputs,
                   mlir::ValueRange) const override {
    return inputs[0];
  }
};

struct DenseImpl : LayerImpl {
  DenseImpl(int64_t units, DenseOptions o)
      : LayerImpl("Dense", stem(o.name, "dense")), units(units), opts(std::move(o)) {
    checkPositive(*this, "units", units);
    checkActivation(name, opts.activation);
    checkConstraint(name, opts.kernel_constraint);
    checkConstraint(name, opts.bias_constraint);
    activityRegularizer = opts.activity_regularizer;
  }
  int64_t units;
  DenseOptions opts;
  bool supportsMasking() const override { return true; }
  void getConfig(nlohmann::json &c) const override {
    c["units"] = units;
    c["activation"] = opts.activation;
    c["use_bias"] = opts.use_bias;
    c["kernel_initializer"] = initializerConfig(opts.kernel_initializer);
    c["bias_initializer"] = initializerConfig(opts.bias_initializer);
    c["kernel_regularizer"] = regularizerConfig(opts.kernel_regularizer);
    c["bias_regularizer"] = regularizerConfig(opts.bias_regularizer);
    c["activity_regularizer"] = regularizerConfig(opts.activity_regularizer);
    c["kernel_constraint"] = constraintConfig(opts.kernel_constraint);
    c["bias_constraint"] = constraintConfig(opts.bias_constraint);
  }

  Shape outputShape(const std::vector<Shape> &in) const override {
    if (in[0].size() < 2)
      throw error("expected an input of rank 2 or more (batch included), got shape " +
                  shapeString(in[0]));
    if (in[0].back() <= 0)
      throw error("the last dimension of the input must be known, got shape " +
                  shapeString(in[0]));
    Shape out = in[0];
    out.back() = units;
    return out;
  }
  void build(const std::vector<Shape> &in) override {
    Weight &k = addWeight("kernel", {in[0].back(), units}, opts.kernel_initializer);
    k.regularizer = opts.kernel_regularizer;
    k.constraint = opts.kernel_constraint;
    if (opts.use_bias) {
      Weight &bias = addWeight("bias", {units}, opts.bias_initializer);
      bias.regularizer = opts.bias_regularizer;
      bias.constraint = opts.bias_constraint;
    }
  }
  mlir::Value emit(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                   mlir::ValueRange w) const override {
    auto x = in[0];
    auto xt = llvm::cast<mlir::RankedTensorType>(x.getType());
    llvm::SmallVector<int64_t> dims(xt.getShape());
    dims.back() = units;
    auto t = mlir::RankedTensorType::get(dims, xt.getElementType());
    mlir::Value y = mlir::kiln::MatmulOp::create(b, loc, t, x, w[0]);
    if (opts.use_bias)
      y = mlir::kiln::AddOp::create(b, loc, t, y, w[1]);
    return emitActivation(b, loc, opts.activation, y);
  }
};

struct Conv2DImpl : LayerImpl {
  Conv2DImpl(int64_t filters, std::array<int64_t, 2> k, Conv2DOptions o)
      : LayerImpl("Conv2D", stem(o.name, "conv2d")), filters(filters), kernel(k),
        opts(std::move(o)) {
    checkPositive(*this, "filters", filters);
    checkPositive(*this, "kernel_size", k[0]);
    checkPositive(*this, "kernel_size", k[1]);
    checkPositive(*this, "strides", opts.strides[0]);
    checkPositive(*this, "strides", opts.strides[1]);
    checkPositive(*this, "dilation_rate", opts.dilation_rate[0]);
    checkPositive(*this, "dilation_rate", opts.dilation_rate[1]);
    if ((opts.strides[0] > 1 || opts.strides[1] > 1) &&
        (opts.dilation_rate[0] > 1 || opts.dilation_rate[1] > 1))
      throw error("strides > 1 are not compatible with dilation_rate > 1 (as in Keras)");
    checkPadding(*this, opts.padding);
    checkChannelsLast(*this, opts.data_format);
    checkActivation(name, opts.activation);
    checkConstraint(name, opts.kernel_constraint);
    checkConstraint(name, opts.bias_constraint);
    activityRegularizer = opts.activity_regularizer;
    checkPositive(*this, "groups", opts.groups);
    if (filters % opts.groups)
      throw error("filters (" + std::to_string(filters) + ") must be a multiple of groups (" +
                  std::to_string(opts.groups) + ")");
  }
  int64_t filters;
  std::array<int64_t, 2> kernel;
  Conv2DOptions opts;
  void getConfig(nlohmann::json &c) const override {
    c["filters"] = filters;
    c["kernel_size"] = kernel;
    c["strides"] = opts.strides;
    c["padding"] = opts.padding;
    c["data_format"] = opts.data_format;
    c["dilation_rate"] = opts.dilation_rate;
    c["groups"] = opts.groups;
    c["activation"] = opts.activation;
    c["use_bias"] = opts.use_bias;
    c["kernel_initializer"] = initializerConfig(opts.kernel_initializer);
    c["bias_initializer"] = initializerConfig(opts.bias_initializer);
    c["kernel_regularizer"] = regularizerConfig(opts.kernel_regularizer);
    c["bias_regularizer"] = regularizerConfig(opts.bias_regularizer);
    c["activity_regularizer"] = regularizerConfig(opts.activity_regularizer);
    c["kernel_constraint"] = constraintConfig(opts.kernel_constraint);
    c["bias_constraint"] = constraintConfig(opts.bias_constraint);
  }

  Shape outputShape(const std::vector<Shape> &in) const override {
    checkRank(*this, in[0], 4, "an NHWC");
    if (in[0][3] % opts.groups)
      throw error("input channels (" + std::to_string(in[0][3]) +
                  ") must be a multiple of groups (" + std::to_string(opts.groups) + ")");
    Shape out = {in[0][0], 0, 0, filters};
    for (int i = 0; i < 2; ++i) {
      out[1 + i] = windowOutput(in[0][1 + i], kernel[i], opts.strides[i], opts.dilation_rate[i],
                                opts.padding);
      if (out[1 + i] <= 0)
        throw error("input shape " + shapeString(in[0]) + " is too small for kernel (" +
                    std::to_string(kernel[0]) + ", " + std::to_string(kernel[1]) +
                    ") with padding '" + opts.padding + "'");
    }
    return out;
  }
  void build(const std::vector<Shape> &in) override {
    Weight &k = addWeight("kernel", {kernel[0], kernel[1], in[0][3] / opts.groups, filters},
                          opts.kernel_initializer);
    k.regularizer = opts.kernel_regularizer;
    k.constraint = opts.kernel_constraint;
    if (opts.use_bias) {
      Weight &bias = addWeight("bias", {filters}, opts.bias_initializer);
      bias.regularizer = opts.bias_regularizer;
      bias.constraint = opts.bias_constraint;
    }
  }
  mlir::Value emit(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                   mlir::ValueRange w) const override {
    auto xt = llvm::cast<mlir::RankedTensorType>(in[0].getType());
    Shape inShape(xt.getShape().begin(), xt.getShape().end());
    inShape[0] = -1;
    mlir::Value y = groupedConv(b, loc, in[0], w[0], opts.groups, opts.strides,
                                opts.dilation_rate, opts.padding, outputShape({inShape}));
    return biasActivation(b, loc, y, opts.use_bias ? w[1] : mlir::Value(), opts.activation);
  }
};

struct Pool2DImpl : LayerImpl {
  Pool2DImpl(bool max, std::array<int64_t, 2> pool, Pooling2DOptions o)
      : LayerImpl(max ? "MaxPooling2D" : "AveragePooling2D",
                  stem(o.name, max ? "max_pooling2d" : "average_pooling2d")),
        max(max), pool(pool), opts(std::move(o)) {
    checkPositive(*this, "pool_size", pool[0]);
    checkPositive(*this, "pool_size", pool[1]);
    if (opts.strides.empty())
      strides = pool;
    else if (opts.strides.size() == 2)
      strides = {opts.strides[0], opts.strides[1]};
    else if (opts.strides.size() == 1)
      strides = {opts.strides[0], opts.strides[0]};
    else
      throw error("strides must have 1 or 2 entries, got " +
                  std::to_string(opts.strides.size()));
    checkPositive(*this, "strides", strides[0]);
    checkPositive(*this, "strides", strides[1]);
    checkPadding(*this, opts.padding);
    checkChannelsLast(*this, opts.data_format);
  }
  bool max;
  std::array<int64_t, 2> pool, strides;
  Pooling2DOptions opts;
  void getConfig(nlohmann::json &c) const override {
    c["pool_size"] = pool;
    c["padding"] = opts.padding;
    c["strides"] = strides;
    c["data_format"] = opts.data_format;
  }

  Shape outputShape(const std::vector<Shape> &in) const override {
    checkRank(*this, in[0], 4, "an NHWC");
    Shape out = {in[0][0], 0, 0, in[0][3]};
    for (int i = 0; i < 2; ++i) {
      out[1 + i] = windowOutput(in[0][1 + i], pool[i], strides[i], 1, opts.padding);
      if (out[1 + i] <= 0)
        throw error("input shape " + shapeString(in[0]) + " is too small for pool_size (" +
                    std::to_string(pool[0]) + ", " + std::to_string(pool[1]) + ")");
    }
    return out;
  }
  mlir::Value emit(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                   mlir::ValueRange) const override {
    auto xt = llvm::cast<mlir::RankedTensorType>(in[0].getType());
    Shape inShape(xt.getShape().begin(), xt.getShape().end());
    inShape[0] = -1;
    auto t = tensorType(b, outputShape({inShape}));
    auto ps = b.getDenseI64ArrayAttr(pool), ss = b.getDenseI64ArrayAttr(strides);
    auto pad = b.getStringAttr(opts.padding);
    if (max)
      return mlir::kiln::MaxPool2DOp::create(b, loc, t, in[0], ps, ss, pad);
    return mlir::kiln::AvgPool2DOp::create(b, loc, t, in[0], ps, ss, pad);
  }
};

struct ReshapeImpl : LayerImpl {
  ReshapeImpl(std::string cls, std::string name, Shape target)
      : LayerImpl(std::move(cls), std::move(name)), target(std::move(target)) {
    int unknown = 0;
    for (int64_t d : this->target) {
      if (d == -1)
        ++unknown;
      else if (d <= 0)
        throw error("target_shape entries must be positive or -1, got " +
                    shapeString(this->target));
    }
    if (unknown > 1)
      throw error("target_shape may have at most one -1, got " + shapeString(this->target));
  }
  Shape target; // Flatten: {-1}
  void getConfig(nlohmann::json &c) const override {
    if (className == "Flatten")
      c["data_format"] = "channels_last";
    else
      c["target_shape"] = target;
  }

  Shape outputShape(const std::vector<Shape> &in) const override {
    if (in[0].size() < 2)
      throw error("expected an input of rank 2 or more (batch included), got shape " +
                  shapeString(in[0]));
    int64_t count = 1;
    for (size_t i = 1; i < in[0].size(); ++i)
      count *= in[0][i];
    int64_t known = 1;
    for (int64_t d : target)
      if (d != -1)
        known *= d;
    Shape out = {in[0][0]};
    for (int64_t d : target)
      out.push_back(d == -1 ? (known ? count / known : 0) : d);
    int64_t got = 1;
    for (size_t i = 1; i < out.size(); ++i)
      got *= out[i];
    if (got != count || got == 0)
      throw error("cannot reshape input " + shapeString(in[0]) + " (" + std::to_string(count) +
                  " values per sample) to target_shape " + shapeString(target));
    return out;
  }
  mlir::Value emit(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                   mlir::ValueRange) const override {
    auto xt = llvm::cast<mlir::RankedTensorType>(in[0].getType());
    Shape inShape(xt.getShape().begin(), xt.getShape().end());
    inShape[0] = -1;
    Shape out = outputShape({inShape});
    if (out == inShape)
      return in[0];
    return mlir::kiln::ReshapeOp::create(b, loc, tensorType(b, out), in[0],
                                         b.getDenseI64ArrayAttr(target));
  }
};

struct ActivationImpl : LayerImpl {
  ActivationImpl(std::string activation, std::string name)
      : LayerImpl("Activation", stem(name, "activation")), activation(std::move(activation)) {
    checkActivation(this->name, this->activation);
  }
  std::string activation;
  bool supportsMasking() const override { return true; }
  void getConfig(nlohmann::json &c) const override { c["activation"] = activation; }
  Shape outputShape(const std::vector<Shape> &in) const override {
    if (activation == "softmax" && in[0].size() < 2)
      throw error("softmax needs an input of rank 2 or more, got " + shapeString(in[0]));
    return in[0];
  }
  mlir::Value emit(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                   mlir::ValueRange) const override {
    return emitActivation(b, loc, activation, in[0]);
  }
};

struct ReLUImpl : LayerImpl {
  explicit ReLUImpl(ReLUOptions o) : LayerImpl("ReLU", stem(o.name, "re_lu")), opts(std::move(o)) {
    if (opts.max_value && !(*opts.max_value >= 0))
      throw error("max_value must be >= 0, got " + std::to_string(*opts.max_value));
    if (!(opts.negative_slope >= 0))
      throw error("negative_slope must be >= 0, got " + std::to_string(opts.negative_slope));
    if (opts.threshold != 0)
      throw error("threshold " + std::to_string(opts.threshold) +
                  " is not supported by kiln (only 0)");
  }
  ReLUOptions opts;
  void getConfig(nlohmann::json &c) const override {
    c["max_value"] = opts.max_value ? nlohmann::json(*opts.max_value) : nlohmann::json(nullptr);
    c["negative_slope"] = opts.negative_slope;
    c["threshold"] = opts.threshold;
  }
  Shape outputShape(const std::vector<Shape> &in) const override { return in[0]; }
  mlir::Value emit(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                   mlir::ValueRange) const override {
    using namespace mlir::kiln;
    mlir::Value x = in[0];
    mlir::Type t = x.getType();
    float slope = static_cast<float>(opts.negative_slope);
    if (slope != 0 && !opts.max_value)
      return LeakyReluOp::create(b, loc, t, x, b.getF32FloatAttr(slope));
    auto scalar = mlir::RankedTensorType::get({}, b.getF32Type());
    auto constant = [&](double v) {
      return ConstantOp::create(b, loc, scalar,
                                mlir::DenseElementsAttr::get(scalar, static_cast<float>(v)));
    };
    mlir::Value y = ReluOp::create(b, loc, t, x);
    if (opts.max_value)
      y = MinimumOp::create(b, loc, t, y, constant(*opts.max_value));
    if (slope != 0) {
      mlir::Value neg = ReluOp::create(b, loc, t, NegOp::create(b, loc, t, x));
      y = SubOp::create(b, loc, t, y, MulOp::create(b, loc, t, neg, constant(slope)));
    }
    return y;
  }
};

struct DropoutImpl : LayerImpl {
  DropoutImpl(double rate, DropoutOptions o)
      : LayerImpl("Dropout", stem(o.name, "dropout")), rate(rate), opts(std::move(o)) {
    if (!(rate >= 0.0 && rate < 1.0))
      throw error("rate must be in [0, 1), got " + std::to_string(rate));
  }
  double rate;
  DropoutOptions opts;
  bool supportsMasking() const override { return true; }
  void getConfig(nlohmann::json &c) const override {
    c["rate"] = rate;
    c["noise_shape"] = nullptr;
    c["seed"] = opts.seed ? nlohmann::json(*opts.seed) : nlohmann::json(nullptr);
  }
  Shape outputShape(const std::vector<Shape> &in) const override { return in[0]; }
  mlir::Value emit(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                   mlir::ValueRange) const override {
    // Inference: the op folds away; training (fit) sets `training`.
    return mlir::kiln::DropoutOp::create(b, loc, in[0].getType(), in[0], mlir::Value(),
                                         b.getF32FloatAttr(static_cast<float>(rate)),
                                         b.getI64IntegerAttr(seed()), b.getBoolAttr(false));
  }
  mlir::Value emitTraining(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                           mlir::ValueRange, mlir::Value step,
                           std::vector<mlir::Value> &) const override {
    return mlir::kiln::DropoutOp::create(b, loc, in[0].getType(), in[0], step,
                                         b.getF32FloatAttr(static_cast<float>(rate)),
                                         b.getI64IntegerAttr(seed()), b.getBoolAttr(true));
  }
  /// The layer's seed, or one derived from its name: every Dropout draws its own mask.
  int64_t seed() const {
    if (opts.seed)
      return static_cast<int64_t>(*opts.seed);
    uint64_t h = 1469598103934665603ull; // FNV-1a
    for (char c : name)
      h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    return static_cast<int64_t>(h >> 1);
  }
};

/// GaussianNoise, GaussianDropout and SpatialDropout2D: identity at inference; in training,
/// noise from kiln.random_normal or a kiln.dropout mask, seeded as Dropout's.
struct NoiseImpl : LayerImpl {
  enum Kind { Additive, Multiplicative, Spatial };
  static const char *classOf(Kind k) {
    return k == Additive ? "GaussianNoise" : k == Multiplicative ? "GaussianDropout"
                                                                  : "SpatialDropout2D";
  }
  static const char *baseOf(Kind k) {
    return k == Additive ? "gaussian_noise" : k == Multiplicative ? "gaussian_dropout"
                                                                   : "spatial_dropout2d";
  }
  NoiseImpl(Kind kind, double value, std::optional<uint64_t> seed, std::string dataFormat,
            std::string name)
      : LayerImpl(classOf(kind), stem(name, baseOf(kind))), kind(kind), value(value),
        seedOption(seed), dataFormat(std::move(dataFormat)) {
    if (kind == Additive && !(value >= 0.0 && std::isfinite(value)))
      throw error("stddev must be a non-negative number, got " + std::to_string(value));
    if (kind != Additive && !(value >= 0.0 && value < 1.0))
      throw error("rate must be in [0, 1), got " + std::to_string(value));
    if (kind == Spatial && this->dataFormat != "channels_last" &&
        this->dataFormat != "channels_first")
      throw error("data_format must be 'channels_last' or 'channels_first', got '" +
                  this->dataFormat + "'");
  }
  Kind kind;
  double value; // stddev or rate
  std::optional<uint64_t> seedOption;
  std::string dataFormat;
  bool supportsMasking() const override { return true; }
  void getConfig(nlohmann::json &c) const override {
    c[kind == Additive ? "stddev" : "rate"] = value;
    c["seed"] = seedOption ? nlohmann::json(*seedOption) : nlohmann::json(nullptr);
    if (kind == Spatial) {
      c["noise_shape"] = nullptr;
      c["data_format"] = dataFormat;
    }
  }
  Shape outputShape(const std::vector<Shape> &in) const override {
    if (kind == Spatial)
      checkRank(*this, in[0], 4, dataFormat == "channels_last" ? "an NHWC" : "an NCHW");
    return in[0];
  }
  mlir::Value emit(mlir::OpBuilder &, mlir::Location, mlir::ValueRange in,
                   mlir::ValueRange) const override {
    return in[0];
  }
  mlir::Value emitTraining(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                           mlir::ValueRange, mlir::Value step,
                           std::vector<mlir::Value> &) const override {
    using namespace mlir::kiln;
    mlir::Value x = in[0];
    if (value == 0.0)
      return x;
    auto type = x.getType();
    auto scalar = mlir::RankedTensorType::get({}, b.getF32Type());
    auto constant = [&](double v) -> mlir::Value {
      return ConstantOp::create(b, loc, scalar,
                                mlir::DenseElementsAttr::get(scalar, static_cast<float>(v)));
    };
    auto seedAttr = b.getI64IntegerAttr(seed());
    if (kind == Spatial) {
      // One kept-or-dropped draw per (sample, channel): kiln.dropout of ones shaped
      // (batch, 1, 1, C) (NCHW: (batch, C, 1, 1)), broadcast over the rows and columns.
      Shape s = sampleShape(x);
      mlir::Value like = x;
      for (int64_t axis : dataFormat == "channels_last" ? std::array<int64_t, 2>{1, 2}
                                                         : std::array<int64_t, 2>{2, 3}) {
        s[axis] = 1;
        like = SliceOp::create(b, loc, tensorType(b, s), like, b.getI64IntegerAttr(axis),
                               b.getI64IntegerAttr(0), b.getI64IntegerAttr(1));
      }
      mlir::Value ones = BroadcastLikeOp::create(b, loc, like.getType(), constant(1.0), like);
      mlir::Value mask = DropoutOp::create(b, loc, ones.getType(), ones, step,
                                           b.getF32FloatAttr(static_cast<float>(value)), seedAttr,
                                           b.getBoolAttr(true));
      return MulOp::create(b, loc, type, x, mask);
    }
    mlir::Value n = RandomNormalOp::create(b, loc, type, x, step, seedAttr);
    if (kind == Additive) // Keras: x + normal(stddev)
      return AddOp::create(b, loc, type, x, MulOp::create(b, loc, type, n, constant(value)));
    // Keras: x * normal(mean 1, stddev sqrt(rate / (1 - rate)))
    mlir::Value noise = MulOp::create(b, loc, type, n, constant(std::sqrt(value / (1 - value))));
    noise = AddOp::create(b, loc, type, noise, constant(1.0));
    return MulOp::create(b, loc, type, x, noise);
  }
  /// The layer's seed, or one derived from its name, as Dropout's.
  int64_t seed() const {
    if (seedOption)
      return static_cast<int64_t>(*seedOption);
    uint64_t h = 1469598103934665603ull; // FNV-1a
    for (char c : name)
      h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    return static_cast<int64_t>(h >> 1);
  }
};

struct BatchNormImpl : LayerImpl {
  explicit BatchNormImpl(BatchNormalizationOptions o)
      : LayerImpl("BatchNormalization", stem(o.name, "batch_normalization")), opts(std::move(o)) {
    if (!(opts.momentum >= 0 && opts.momentum <= 1))
      throw error("momentum must be in [0, 1], got " + std::to_string(opts.momentum));
    if (!(opts.epsilon > 0))
      throw error("epsilon must be positive, got " + std::to_string(opts.epsilon));
  }
  BatchNormalizationOptions opts;
  bool supportsMasking() const override { return true; }
  void checkMasked(bool training) const override {
    if (training && trainable)
      throw error("cannot train on a masked input: Keras 3 computes the batch's moments over "
                  "the unmasked steps, kiln does not (its inference on masked inputs is fine)");
  }

  int64_t axisOf(size_t rank) const {
    int64_t a = opts.axis < 0 ? opts.axis + static_cast<int64_t>(rank) : opts.axis;
    return a;
  }
  Shape outputShape(const std::vector<Shape> &in) const override {
    int64_t a = axisOf(in[0].size());
    if (in[0].size() < 2 || a < 1 || a >= static_cast<int64_t>(in[0].size()))
      throw error("axis " + std::to_string(opts.axis) + " is out of range for input " +
                  shapeString(in[0]) + " (the batch axis cannot be normalized over)");
    return in[0];
  }
  void build(const std::vector<Shape> &in) override {
    Shape c = {in[0][axisOf(in[0].size())]};
    if (opts.scale)
      addWeight("gamma", c, opts.gamma_initializer);
    if (opts.center)
      addWeight("beta", c, opts.beta_initializer);
    addWeight("moving_mean", c, opts.moving_mean_initializer, /*trainable=*/false);
    addWeight("moving_variance", c, opts.moving_variance_initializer, /*trainable=*/false);
  }
  void getConfig(nlohmann::json &c) const override {
    c["axis"] = opts.axis;
    c["momentum"] = opts.momentum;
    c["epsilon"] = opts.epsilon;
    c["center"] = opts.center;
    c["scale"] = opts.scale;
    c["beta_initializer"] = initializerConfig(opts.beta_initializer);
    c["gamma_initializer"] = initializerConfig(opts.gamma_initializer);
    c["moving_mean_initializer"] = initializerConfig(opts.moving_mean_initializer);
    c["moving_variance_initializer"] = initializerConfig(opts.moving_variance_initializer);
    c["beta_regularizer"] = nullptr;
    c["gamma_regularizer"] = nullptr;
    c["beta_constraint"] = nullptr;
    c["gamma_constraint"] = nullptr;
  }

  /// A (C) parameter shaped to broadcast against the input: (C, 1, ..., 1) for an inner axis.
  mlir::Value param(mlir::OpBuilder &b, mlir::Location loc, mlir::Value p, int64_t rank,
                    int64_t axis) const {
    int64_t trailing = rank - 1 - axis;
    if (trailing == 0)
      return p;
    auto pt = llvm::cast<mlir::RankedTensorType>(p.getType());
    Shape ones(trailing, 1);
    Shape full = {pt.getDimSize(0)};
    full.insert(full.end(), ones.begin(), ones.end());
    return mlir::kiln::ReshapeOp::create(b, loc, tensorType(b, full), p,
                                         b.getDenseI64ArrayAttr(ones));
  }
  /// gamma * (x - mean) / sqrt(var + epsilon) + beta with (C)-shaped statistics.
  mlir::Value normalize(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x, mlir::Value mean,
                        mlir::Value var, mlir::ValueRange w) const {
    auto xt = llvm::cast<mlir::RankedTensorType>(x.getType());
    int64_t rank = xt.getRank(), axis = axisOf(rank);
    auto ct = var.getType();
    auto eps = mlir::RankedTensorType::get({}, b.getF32Type());
    mlir::Value e = mlir::kiln::ConstantOp::create(
        b, loc, eps, mlir::DenseElementsAttr::get(eps, static_cast<float>(opts.epsilon)));
    mlir::Value inv = mlir::kiln::SqrtOp::create(
        b, loc, ct, mlir::kiln::AddOp::create(b, loc, ct, var, e));
    mlir::Value y = mlir::kiln::SubOp::create(b, loc, xt, x, param(b, loc, mean, rank, axis));
    y = mlir::kiln::DivOp::create(b, loc, xt, y, param(b, loc, inv, rank, axis));
    size_t k = 0;
    if (opts.scale)
      y = mlir::kiln::MulOp::create(b, loc, xt, y, param(b, loc, w[k++], rank, axis));
    if (opts.center)
      y = mlir::kiln::AddOp::create(b, loc, xt, y, param(b, loc, w[k++], rank, axis));
    return y;
  }
  size_t statIndex() const { return (opts.scale ? 1 : 0) + (opts.center ? 1 : 0); }

  mlir::Value emit(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                   mlir::ValueRange w) const override {
    size_t k = statIndex();
    return normalize(b, loc, in[0], w[k], w[k + 1], w);
  }
  mlir::Value emitTraining(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                           mlir::ValueRange w, mlir::Value,
                           std::vector<mlir::Value> &newState) const override {
    // Keras: a frozen BatchNormalization runs in inference mode, in fit too.
    if (!trainable)
      return emit(b, loc, in, w);
    mlir::Value x = in[0];
    auto xt = llvm::cast<mlir::RankedTensorType>(x.getType());
    int64_t rank = xt.getRank(), axis = axisOf(rank);
    llvm::SmallVector<int64_t> axes;
    for (int64_t i = 0; i < rank; ++i)
      if (i != axis)
        axes.push_back(i);
    size_t k = statIndex();
    auto ct = w[k].getType();
    auto axesAttr = b.getDenseI64ArrayAttr(axes);
    auto noKeep = b.getBoolAttr(false);
    // The batch's statistics (biased variance, as Keras' moments).
    mlir::Value mean = mlir::kiln::ReduceMeanOp::create(b, loc, ct, x, axesAttr, noKeep);
    mlir::Value centered =
        mlir::kiln::SubOp::create(b, loc, xt, x, param(b, loc, mean, rank, axis));
    mlir::Value var = mlir::kiln::ReduceMeanOp::create(
        b, loc, ct, mlir::kiln::SquareOp::create(b, loc, xt, centered), axesAttr, noKeep);
    auto scalar = mlir::RankedTensorType::get({}, b.getF32Type());
    auto constant = [&](double v) {
      return mlir::kiln::ConstantOp::create(
          b, loc, scalar, mlir::DenseElementsAttr::get(scalar, static_cast<float>(v)));
    };
    auto move = [&](mlir::Value moving, mlir::Value batch) {
      mlir::Value a = mlir::kiln::MulOp::create(b, loc, ct, moving, constant(opts.momentum));
      mlir::Value c = mlir::kiln::MulOp::create(b, loc, ct, batch, constant(1 - opts.momentum));
      return mlir::kiln::AddOp::create(b, loc, ct, a, c).getResult();
    };
    newState[k] = move(w[k], mean);
    newState[k + 1] = move(w[k + 1], var);
    return normalize(b, loc, x, mean, var, w);
  }
};


/// Reshapes `v` to `shape` (batch -1 first; kiln.reshape keeps dimension 0).
mlir::Value reshapeTo(mlir::OpBuilder &b, mlir::Location loc, mlir::Value v, const Shape &shape) {
  return mlir::kiln::ReshapeOp::create(b, loc, tensorType(b, shape), v,
                                       b.getDenseI64ArrayAttr(llvm::ArrayRef(shape).drop_front()));
}

struct GlobalPoolImpl : LayerImpl {
  GlobalPoolImpl(bool max, int dims, GlobalPoolingOptions o)
      : LayerImpl(std::string(max ? "GlobalMaxPooling" : "GlobalAveragePooling") +
                      std::to_string(dims) + "D",
                  stem(o.name, std::string(max ? "global_max_pooling" : "global_average_pooling") +
                                   std::to_string(dims) + "d")),
        max(max), dims(dims), opts(std::move(o)) {
    checkChannelsLast(*this, opts.data_format);
  }
  bool max;
  int dims;
  GlobalPoolingOptions opts;
  void getConfig(nlohmann::json &c) const override {
    c["data_format"] = opts.data_format;
    c["keepdims"] = opts.keepdims;
  }
  /// Keras 3's GlobalAveragePooling1D takes the mean over the unmasked steps (a sample with
  /// every step masked gives 0 / 0, NaN, as there); its output has no mask.
  bool supportsMasking() const override { return dims == 1 && !max; }
  bool honoursMask() const override { return dims == 1 && !max; }
  mlir::Value computeMask(mlir::OpBuilder &, mlir::Location, mlir::ValueRange,
                          mlir::Value) const override {
    return {};
  }
  llvm::SmallVector<mlir::Value> emitMasked(mlir::OpBuilder &b, mlir::Location loc,
                                            mlir::ValueRange in, mlir::ValueRange,
                                            mlir::Value, mlir::Value mask) const override {
    using namespace mlir::kiln;
    Shape xs = sampleShape(in[0]), ms = sampleShape(mask);
    if (ms.size() != 2 || ms[1] != xs[1])
      throw error("the Keras mask of its input has shape " + shapeString(ms) +
                  "; it takes a (batch, steps) mask, here (None, " + std::to_string(xs[1]) +
                  ")");
    mlir::Value m = reshapeTo(b, loc, mask, {-1, xs[1], 1});
    mlir::Value kept = MulOp::create(b, loc, in[0].getType(), in[0], m);
    auto axis = b.getDenseI64ArrayAttr({1});
    auto keep = b.getBoolAttr(opts.keepdims);
    Shape count = opts.keepdims ? Shape{-1, 1, 1} : Shape{-1, 1};
    mlir::Value sum = ReduceSumOp::create(b, loc, tensorType(b, outputShape({xs})), kept, axis,
                                          keep);
    mlir::Value n = ReduceSumOp::create(b, loc, tensorType(b, count), m, axis, keep);
    return {DivOp::create(b, loc, sum.getType(), sum, n).getResult()};
  }
  Shape outputShape(const std::vector<Shape> &in) const override {
    checkRank(*this, in[0], dims + 2, dims == 2 ? "an NHWC" : "a (batch, steps, features)");
    Shape out = {in[0][0]};
    if (opts.keepdims)
      out.insert(out.end(), dims, 1);
    out.push_back(in[0].back());
    return out;
  }
  mlir::Value emit(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                   mlir::ValueRange) const override {
    auto t = tensorType(b, outputShape({sampleShape(in[0])}));
    llvm::SmallVector<int64_t> axes = {1};
    if (dims == 2)
      axes.push_back(2);
    auto a = b.getDenseI64ArrayAttr(axes);
    auto keep = b.getBoolAttr(opts.keepdims);
    if (max)
      return mlir::kiln::ReduceMaxOp::create(b, loc, t, in[0], a, keep);
    return mlir::kiln::ReduceMeanOp::create(b, loc, t, in[0], a, keep);
  }
};

struct LayerNormImpl : LayerImpl {
  explicit LayerNormImpl(LayerNormalizationOptions o)
      : LayerImpl("LayerNormalization", stem(o.name, "layer_normalization")), opts(std::move(o)) {
    if (opts.axis.empty())
      throw error("axis must name at least one axis");
    if (!(opts.epsilon > 0))
      throw error("epsilon must be positive, got " + std::to_string(opts.epsilon));
  }
  LayerNormalizationOptions opts;
  bool supportsMasking() const override { return true; }

  /// The normalized axes as non-negative indices, checked against an input of `rank`.
  std::vector<int64_t> axes(const Shape &in) const {
    int64_t rank = static_cast<int64_t>(in.size());
    std::vector<int64_t> out;
    for (int64_t a : opts.axis) {
      int64_t n = a < 0 ? a + rank : a;
      if (n < 1 || n >= rank)
        throw error("axis " + std::to_string(a) + " is out of range for input " +
                    shapeString(in) + " (the batch axis cannot be normalized over)");
      if (!out.empty() && n <= out.back())
        throw error("axis " + shapeString(opts.axis) +
                    " must list distinct axes in increasing order (input " + shapeString(in) +
                    ")");
      out.push_back(n);
    }
    return out;
  }
  Shape outputShape(const std::vector<Shape> &in) const override {
    axes(in[0]);
    return in[0];
  }
  void build(const std::vector<Shape> &in) override {
    Shape p;
    for (int64_t a : axes(in[0]))
      p.push_back(in[0][a]);
    if (opts.scale)
      addWeight("gamma", p, opts.gamma_initializer);
    if (opts.center)
      addWeight("beta", p, opts.beta_initializer);
  }
  void getConfig(nlohmann::json &c) const override {
    c["axis"] = opts.axis;
    c["epsilon"] = opts.epsilon;
    c["center"] = opts.center;
    c["scale"] = opts.scale;
    c["rms_scaling"] = false;
    c["beta_initializer"] = initializerConfig(opts.beta_initializer);
    c["gamma_initializer"] = initializerConfig(opts.gamma_initializer);
    c["beta_regularizer"] = nullptr;
    c["gamma_regularizer"] = nullptr;
    c["beta_constraint"] = nullptr;
    c["gamma_constraint"] = nullptr;
  }
  mlir::Value emit(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                   mlir::ValueRange w) const override {
    using namespace mlir::kiln;
    mlir::Value x = in[0];
    Shape shape = sampleShape(x);
    std::vector<int64_t> ax = axes(shape);
    auto xt = llvm::cast<mlir::RankedTensorType>(x.getType());
    // The statistics keep the normalized axes as 1s, so they broadcast against x.
    llvm::SmallVector<int64_t> kept(xt.getShape());
    for (int64_t a : ax)
      kept[a] = 1;
    auto st = mlir::RankedTensorType::get(kept, xt.getElementType());
    auto axesAttr = b.getDenseI64ArrayAttr(llvm::SmallVector<int64_t>(ax.begin(), ax.end()));
    auto keep = b.getBoolAttr(true);
    mlir::Value mean = ReduceMeanOp::create(b, loc, st, x, axesAttr, keep);
    mlir::Value centered = SubOp::create(b, loc, xt, x, mean);
    mlir::Value var =
        ReduceMeanOp::create(b, loc, st, SquareOp::create(b, loc, xt, centered), axesAttr, keep);
    auto scalar = mlir::RankedTensorType::get({}, b.getF32Type());
    mlir::Value eps = ConstantOp::create(
        b, loc, scalar, mlir::DenseElementsAttr::get(scalar, static_cast<float>(opts.epsilon)));
    mlir::Value sd = SqrtOp::create(b, loc, st, AddOp::create(b, loc, st, var, eps));
    mlir::Value y = DivOp::create(b, loc, xt, centered, sd);
    size_t k = 0;
    if (opts.scale)
      y = MulOp::create(b, loc, xt, y, param(b, loc, w[k++], shape, ax));
    if (opts.center)
      y = AddOp::create(b, loc, xt, y, param(b, loc, w[k++], shape, ax));
    return y;
  }
  /// A weight of the normalized axes' shape, reshaped to broadcast against the input: the
  /// axes after the first normalized one that are not normalized become 1s.
  mlir::Value param(mlir::OpBuilder &b, mlir::Location loc, mlir::Value p, const Shape &in,
                    const std::vector<int64_t> &ax) const {
    Shape rest;
    for (int64_t i = ax[0] + 1; i < static_cast<int64_t>(in.size()); ++i)
      rest.push_back(std::find(ax.begin(), ax.end(), i) != ax.end() ? in[i] : 1);
    Shape full = {in[ax[0]]};
    full.insert(full.end(), rest.begin(), rest.end());
    auto pt = llvm::cast<mlir::RankedTensorType>(p.getType());
    if (Shape(pt.getShape().begin(), pt.getShape().end()) == full)
      return p;
    return mlir::kiln::ReshapeOp::create(b, loc, tensorType(b, full), p,
                                         b.getDenseI64ArrayAttr(rest));
  }
};

std::string sidesString(const Sides2D &s) {
  return "((" + std::to_string(s.top) + ", " + std::to_string(s.bottom) + "), (" +
         std::to_string(s.left) + ", " + std::to_string(s.right) + "))";
}

/// ZeroPadding2D and Cropping2D.
struct Sides2DImpl : LayerImpl {
  Sides2DImpl(bool crop, Sides2D sides, Spatial2DOptions o)
      : LayerImpl(crop ? "Cropping2D" : "ZeroPadding2D",
                  stem(o.name, crop ? "cropping2d" : "zero_padding2d")),
        crop(crop), sides(sides), opts(std::move(o)) {
    if (sides.top < 0 || sides.bottom < 0 || sides.left < 0 || sides.right < 0)
      throw error(std::string(crop ? "cropping " : "padding ") + sidesString(sides) +
                  " must not be negative");
    checkChannelsLast(*this, opts.data_format);
  }
  bool crop;
  Sides2D sides;
  Spatial2DOptions opts;
  void getConfig(nlohmann::json &c) const override {
    c[crop ? "cropping" : "padding"] = {{sides.top, sides.bottom}, {sides.left, sides.right}};
    c["data_format"] = opts.data_format;
  }
  Shape outputShape(const std::vector<Shape> &in) const override {
    checkRank(*this, in[0], 4, "an NHWC");
    Shape out = in[0];
    int64_t dh = sides.top + sides.bottom, dw = sides.left + sides.right;
    if (crop) {
      if (dh >= in[0][1] || dw >= in[0][2])
        throw error("cropping " + sidesString(sides) + " leaves nothing of input " +
                    shapeString(in[0]));
      out[1] -= dh;
      out[2] -= dw;
    } else {
      out[1] += dh;
      out[2] += dw;
    }
    return out;
  }
  mlir::Value emit(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                   mlir::ValueRange) const override {
    using namespace mlir::kiln;
    Shape shape = sampleShape(in[0]);
    if (!crop)
      return PadOp::create(b, loc, tensorType(b, outputShape({shape})), in[0],
                           b.getDenseI64ArrayAttr({0, sides.top, sides.left, 0}),
                           b.getDenseI64ArrayAttr({0, sides.bottom, sides.right, 0}));
    mlir::Value y = in[0];
    int64_t starts[2] = {sides.top, sides.left}, ends[2] = {sides.bottom, sides.right};
    for (int64_t axis = 1; axis <= 2; ++axis) {
      int64_t start = starts[axis - 1], size = shape[axis] - start - ends[axis - 1];
      if (size == shape[axis])
        continue;
      shape[axis] = size;
      y = SliceOp::create(b, loc, tensorType(b, shape), y, b.getI64IntegerAttr(axis),
                          b.getI64IntegerAttr(start), b.getI64IntegerAttr(size));
    }
    return y;
  }
};

/// Copies of `x` side by side along `axis` (a composition of kiln.concat, so its gradient sums
/// the copies' gradients).
mlir::Value repeatAlong(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x, int64_t axis,
                        int64_t times) {
  if (times == 1)
    return x;
  Shape shape = sampleShape(x);
  shape[axis] *= times;
  llvm::SmallVector<mlir::Value> copies(times, x);
  return mlir::kiln::ConcatOp::create(b, loc, tensorType(b, shape), copies,
                                      b.getI64IntegerAttr(axis));
}

struct UpSampling2DImpl : LayerImpl {
  UpSampling2DImpl(std::array<int64_t, 2> size, UpSampling2DOptions o)
      : LayerImpl("UpSampling2D", stem(o.name, "up_sampling2d")), size(size), opts(std::move(o)) {
    checkPositive(*this, "size", size[0]);
    checkPositive(*this, "size", size[1]);
    checkChannelsLast(*this, opts.data_format);
    if (opts.interpolation != "nearest")
      throw error("interpolation '" + opts.interpolation +
                  "' is not supported; kiln's UpSampling2D has 'nearest'");
  }
  std::array<int64_t, 2> size;
  UpSampling2DOptions opts;
  void getConfig(nlohmann::json &c) const override {
    c["size"] = size;
    c["data_format"] = opts.data_format;
    c["interpolation"] = opts.interpolation;
  }
  Shape outputShape(const std::vector<Shape> &in) const override {
    checkRank(*this, in[0], 4, "an NHWC");
    Shape out = in[0];
    if (__builtin_mul_overflow(out[1], size[0], &out[1]) ||
        __builtin_mul_overflow(out[2], size[1], &out[2]))
      throw error("size (" + std::to_string(size[0]) + ", " + std::to_string(size[1]) +
                  ") is too large for input " + shapeString(in[0]));
    return out;
  }
  mlir::Value emit(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                   mlir::ValueRange) const override {
    using namespace mlir::kiln;
    Shape s = sampleShape(in[0]);
    if (size[0] == 1 && size[1] == 1)
      return in[0];
    // (N, H, W, C) -> (N, H, 1, W, 1, C), copies along the 1s, -> (N, H * sh, W * sw, C).
    Shape split = {-1, s[1], 1, s[2], 1, s[3]};
    mlir::Value y = ReshapeOp::create(b, loc, tensorType(b, split), in[0],
                                      b.getDenseI64ArrayAttr({s[1], 1, s[2], 1, s[3]}));
    y = repeatAlong(b, loc, y, 2, size[0]);
    y = repeatAlong(b, loc, y, 4, size[1]);
    Shape out = outputShape({s});
    return ReshapeOp::create(b, loc, tensorType(b, out), y,
                             b.getDenseI64ArrayAttr({out[1], out[2], out[3]}));
  }
};

struct PermuteImpl : LayerImpl {
  PermuteImpl(std::vector<int64_t> dims, std::string name)
      : LayerImpl("Permute", stem(name, "permute")), dims(std::move(dims)) {
    std::vector<int64_t> sorted = this->dims;
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 0; i < sorted.size(); ++i)
      if (sorted[i] != static_cast<int64_t>(i) + 1)
        throw error("dims " + shapeString(this->dims) +
                    " must be a permutation of 1.." + std::to_string(sorted.size()) +
                    " (the batch axis 0 stays first)");
    if (this->dims.empty())
      throw error("dims must not be empty");
  }
  std::vector<int64_t> dims;
  void getConfig(nlohmann::json &c) const override { c["dims"] = dims; }
  Shape outputShape(const std::vector<Shape> &in) const override {
    if (in[0].size() != dims.size() + 1)
      throw error("dims " + shapeString(dims) + " permute " + std::to_string(dims.size()) +
                  " axes, but input " + shapeString(in[0]) + " has " +
                  std::to_string(in[0].size() - 1) + " per-sample axes");
    Shape out = {in[0][0]};
    for (int64_t d : dims)
      out.push_back(in[0][d]);
    return out;
  }
  mlir::Value emit(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                   mlir::ValueRange) const override {
    llvm::SmallVector<int64_t> perm = {0};
    perm.append(dims.begin(), dims.end());
    return mlir::kiln::TransposeOp::create(b, loc, tensorType(b, outputShape({sampleShape(in[0])})),
                                           in[0], b.getDenseI64ArrayAttr(perm));
  }
};

struct RepeatVectorImpl : LayerImpl {
  RepeatVectorImpl(int64_t n, std::string name)
      : LayerImpl("RepeatVector", stem(name, "repeat_vector")), n(n) {
    checkPositive(*this, "n", n);
  }
  int64_t n;
  void getConfig(nlohmann::json &c) const override { c["n"] = n; }
  Shape outputShape(const std::vector<Shape> &in) const override {
    checkRank(*this, in[0], 2, "a (batch, features)");
    return {in[0][0], n, in[0][1]};
  }
  mlir::Value emit(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                   mlir::ValueRange) const override {
    Shape s = sampleShape(in[0]);
    mlir::Value y = mlir::kiln::ReshapeOp::create(b, loc, tensorType(b, {-1, 1, s[1]}), in[0],
                                                  b.getDenseI64ArrayAttr({1, s[1]}));
    return repeatAlong(b, loc, y, 1, n);
  }
};

/// Add, Subtract, Multiply, Average, Maximum, Minimum: an elementwise fold over inputs of one
/// shape.
struct MergeImpl : LayerImpl {
  MergeImpl(std::string cls, std::string base, std::string name)
      : LayerImpl(std::move(cls), stem(name, base)) {}
  int arity() const override { return 0; }
  Shape outputShape(const std::vector<Shape> &in) const override {
    if (className == "Subtract" && in.size() != 2)
      throw error("Subtract expects exactly 2 inputs, got " + std::to_string(in.size()));
    for (size_t i = 1; i < in.size(); ++i)
      if (in[i] != in[0])
        throw error("inputs must have one shape, got " + shapeString(in[0]) + " and " +
                    shapeString(in[i]));
    return in[0];
  }
  mlir::Value emit(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                   mlir::ValueRange) const override {
    using namespace mlir::kiln;
    mlir::Type t = in[0].getType();
    mlir::Value y = in[0];
    for (size_t i = 1; i < in.size(); ++i) {
      if (className == "Subtract")
        y = SubOp::create(b, loc, t, y, in[i]);
      else if (className == "Multiply")
        y = MulOp::create(b, loc, t, y, in[i]);
      else if (className == "Maximum")
        y = MaximumOp::create(b, loc, t, y, in[i]);
      else if (className == "Minimum")
        y = MinimumOp::create(b, loc, t, y, in[i]);
      else
        y = AddOp::create(b, loc, t, y, in[i]);
    }
    if (className == "Average") { // Keras 3: the sum divided by the count
      auto scalar = mlir::RankedTensorType::get({}, b.getF32Type());
      mlir::Value n = ConstantOp::create(
          b, loc, scalar, mlir::DenseElementsAttr::get(scalar, static_cast<float>(in.size())));
      y = DivOp::create(b, loc, t, y, n);
    }
    return y;
  }
};

struct ConcatenateImpl : LayerImpl {
  explicit ConcatenateImpl(ConcatenateOptions o)
      : LayerImpl("Concatenate", stem(o.name, "concatenate")), axis(o.axis) {}
  int64_t axis;
  void getConfig(nlohmann::json &c) const override { c["axis"] = axis; }
  int arity() const override { return 0; }
  Shape outputShape(const std::vector<Shape> &in) const override {
    int64_t rank = static_cast<int64_t>(in[0].size());
    int64_t a = axis < 0 ? axis + rank : axis;
    if (a < 1 || a >= rank)
      throw error("axis " + std::to_string(axis) + " is out of range for inputs of shape " +
                  shapeString(in[0]) + " (the batch axis cannot be concatenated)");
    Shape out = in[0];
    for (size_t i = 1; i < in.size(); ++i) {
      bool ok = static_cast<int64_t>(in[i].size()) == rank;
      for (int64_t d = 0; ok && d < rank; ++d)
        ok = d == a || in[i][d] == in[0][d];
      if (!ok)
        throw error("inputs must match except along axis " + std::to_string(axis) + ", got " +
                    shapeString(in[0]) + " and " + shapeString(in[i]));
      out[a] += in[i][a];
    }
    return out;
  }
  mlir::Value emit(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                   mlir::ValueRange) const override {
    std::vector<Shape> shapes;
    for (mlir::Value v : in) {
      auto t = llvm::cast<mlir::RankedTensorType>(v.getType());
      Shape s(t.getShape().begin(), t.getShape().end());
      s[0] = -1;
      shapes.push_back(s);
    }
    return mlir::kiln::ConcatOp::create(b, loc, tensorType(b, outputShape(shapes)), in,
                                        b.getI64IntegerAttr(axis));
  }
};

//===----------------------------------------------------------------------===//
// Convolution family (issue 6): Conv1D, 1-D pooling, DepthwiseConv2D, SeparableConv2D,
// Conv2DTranspose, Dot. They reuse kiln.conv2d, the 2-D pools and conv2d_grad_input (a 1-D
// layer runs as a 2-D one of width 1), so their gradients are those ops' rules.
//===----------------------------------------------------------------------===//

/// A weight with its regularizer and constraint.
Weight &addRegularized(LayerImpl &l, const std::string &suffix, const Shape &shape,
                       const Initializer &init, const std::optional<Regularizer> &reg,
                       const std::optional<Constraint> &con) {
  Weight &w = l.addWeight(suffix, shape, init);
  w.regularizer = reg;
  w.constraint = con;
  return w;
}


void checkWindow2D(const LayerImpl &l, std::array<int64_t, 2> k, std::array<int64_t, 2> strides,
                   std::array<int64_t, 2> dilation, const std::string &padding) {
  for (int i = 0; i < 2; ++i) {
    checkPositive(l, "kernel_size", k[i]);
    checkPositive(l, "strides", strides[i]);
    checkPositive(l, "dilation_rate", dilation[i]);
  }
  if ((strides[0] > 1 || strides[1] > 1) && (dilation[0] > 1 || dilation[1] > 1))
    throw l.error("strides > 1 are not compatible with dilation_rate > 1 (as in Keras)");
  checkPadding(l, padding);
}

/// The (rows, cols) of a 2-D window layer's output; throws when the input is too small.
Shape window2DOutput(const LayerImpl &l, const Shape &in, std::array<int64_t, 2> k,
                     std::array<int64_t, 2> strides, std::array<int64_t, 2> dilation,
                     const std::string &padding, int64_t channels) {
  checkRank(l, in, 4, "an NHWC");
  Shape out = {in[0], 0, 0, channels};
  for (int i = 0; i < 2; ++i) {
    out[1 + i] = windowOutput(in[1 + i], k[i], strides[i], dilation[i], padding);
    if (out[1 + i] <= 0)
      throw l.error("input shape " + shapeString(in) + " is too small for kernel (" +
                    std::to_string(k[0]) + ", " + std::to_string(k[1]) + ") with padding '" +
                    padding + "'");
  }
  return out;
}

struct Conv1DImpl : LayerImpl {
  Conv1DImpl(int64_t filters, int64_t k, Conv1DOptions o)
      : LayerImpl("Conv1D", stem(o.name, "conv1d")), filters(filters), kernel(k),
        opts(std::move(o)) {
    checkPositive(*this, "filters", filters);
    checkPositive(*this, "kernel_size", k);
    checkPositive(*this, "strides", opts.strides);
    checkPositive(*this, "dilation_rate", opts.dilation_rate);
    checkPositive(*this, "groups", opts.groups);
    if (opts.strides > 1 && opts.dilation_rate > 1)
      throw error("strides > 1 are not compatible with dilation_rate > 1 (as in Keras)");
    if (opts.padding != "valid" && opts.padding != "same" && opts.padding != "causal")
      throw error("padding must be 'valid', 'same' or 'causal', got '" + opts.padding + "'");
    if (filters % opts.groups)
      throw error("filters (" + std::to_string(filters) + ") must be a multiple of groups (" +
                  std::to_string(opts.groups) + ")");
    checkChannelsLast(*this, opts.data_format);
    checkActivation(name, opts.activation);
    checkConstraint(name, opts.kernel_constraint);
    checkConstraint(name, opts.bias_constraint);
    activityRegularizer = opts.activity_regularizer;
  }
  int64_t filters, kernel;
  Conv1DOptions opts;
  void getConfig(nlohmann::json &c) const override {
    c["filters"] = filters;
    c["kernel_size"] = {kernel};
    c["strides"] = {opts.strides};
    c["padding"] = opts.padding;
    c["data_format"] = opts.data_format;
    c["dilation_rate"] = {opts.dilation_rate};
    c["groups"] = opts.groups;
    c["activation"] = opts.activation;
    c["use_bias"] = opts.use_bias;
    c["kernel_initializer"] = initializerConfig(opts.kernel_initializer);
    c["bias_initializer"] = initializerConfig(opts.bias_initializer);
    c["kernel_regularizer"] = regularizerConfig(opts.kernel_regularizer);
    c["bias_regularizer"] = regularizerConfig(opts.bias_regularizer);
    c["activity_regularizer"] = regularizerConfig(opts.activity_regularizer);
    c["kernel_constraint"] = constraintConfig(opts.kernel_constraint);
    c["bias_constraint"] = constraintConfig(opts.bias_constraint);
  }
  bool causal() const { return opts.padding == "causal"; }
  Shape outputShape(const std::vector<Shape> &in) const override {
    checkRank(*this, in[0], 3, "a (batch, steps, channels)");
    if (in[0][2] % opts.groups)
      throw error("input channels (" + std::to_string(in[0][2]) +
                  ") must be a multiple of groups (" + std::to_string(opts.groups) + ")");
    // Causal: (k - 1) * dilation zeros before the steps, then "valid".
    int64_t steps = in[0][1] + (causal() ? (kernel - 1) * opts.dilation_rate : 0);
    int64_t n = windowOutput(steps, kernel, opts.strides, opts.dilation_rate,
                             causal() ? "valid" : opts.padding);
    if (n <= 0)
      throw error("input shape " + shapeString(in[0]) + " is too small for kernel_size " +
                  std::to_string(kernel) + " with padding '" + opts.padding + "'");
    return {in[0][0], n, filters};
  }
  void build(const std::vector<Shape> &in) override {
    addRegularized(*this, "kernel", {kernel, in[0][2] / opts.groups, filters},
                   opts.kernel_initializer, opts.kernel_regularizer, opts.kernel_constraint);
    if (opts.use_bias)
      addRegularized(*this, "bias", {filters}, opts.bias_initializer, opts.bias_regularizer,
                     opts.bias_constraint);
  }
  mlir::Value emit(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                   mlir::ValueRange w) const override {
    // (N, L, C) as (N, L, 1, C) with a (k, 1, C / groups, F) kernel.
    Shape s = sampleShape(in[0]), out = outputShape({s});
    mlir::Value x = reshapeTo(b, loc, in[0], {-1, s[1], 1, s[2]});
    if (causal()) {
      int64_t pad = (kernel - 1) * opts.dilation_rate;
      x = mlir::kiln::PadOp::create(b, loc, tensorType(b, {-1, s[1] + pad, 1, s[2]}), x,
                                    b.getDenseI64ArrayAttr({0, pad, 0, 0}),
                                    b.getDenseI64ArrayAttr({0, 0, 0, 0}));
    }
    auto kt = llvm::cast<mlir::RankedTensorType>(w[0].getType());
    mlir::Value k = mlir::kiln::ReshapeOp::create(
        b, loc, tensorType(b, {kernel, 1, kt.getDimSize(1), filters}), w[0],
        b.getDenseI64ArrayAttr({1, kt.getDimSize(1), filters}));
    mlir::Value y = groupedConv(b, loc, x, k, opts.groups, {opts.strides, 1},
                                {opts.dilation_rate, 1}, causal() ? "valid" : opts.padding,
                                {-1, out[1], 1, filters});
    y = reshapeTo(b, loc, y, {-1, out[1], filters});
    return biasActivation(b, loc, y, opts.use_bias ? w[1] : mlir::Value(), opts.activation);
  }
};

struct Pool1DImpl : LayerImpl {
  Pool1DImpl(bool max, int64_t pool, Pooling1DOptions o)
      : LayerImpl(max ? "MaxPooling1D" : "AveragePooling1D",
                  stem(o.name, max ? "max_pooling1d" : "average_pooling1d")),
        max(max), pool(pool), strides(o.strides.value_or(pool)), opts(std::move(o)) {
    checkPositive(*this, "pool_size", pool);
    checkPositive(*this, "strides", strides);
    checkPadding(*this, opts.padding);
    checkChannelsLast(*this, opts.data_format);
  }
  bool max;
  int64_t pool, strides;
  Pooling1DOptions opts;
  void getConfig(nlohmann::json &c) const override {
    c["pool_size"] = {pool};
    c["padding"] = opts.padding;
    c["strides"] = {strides};
    c["data_format"] = opts.data_format;
  }
  Shape outputShape(const std::vector<Shape> &in) const override {
    checkRank(*this, in[0], 3, "a (batch, steps, channels)");
    int64_t n = windowOutput(in[0][1], pool, strides, 1, opts.padding);
    if (n <= 0)
      throw error("input shape " + shapeString(in[0]) + " is too small for pool_size " +
                  std::to_string(pool));
    return {in[0][0], n, in[0][2]};
  }
  mlir::Value emit(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                   mlir::ValueRange) const override {
    Shape s = sampleShape(in[0]), out = outputShape({s});
    mlir::Value x = reshapeTo(b, loc, in[0], {-1, s[1], 1, s[2]});
    auto t = tensorType(b, {-1, out[1], 1, s[2]});
    auto ps = b.getDenseI64ArrayAttr({pool, 1}), ss = b.getDenseI64ArrayAttr({strides, 1});
    auto pad = b.getStringAttr(opts.padding);
    mlir::Value y = max ? mlir::Value(mlir::kiln::MaxPool2DOp::create(b, loc, t, x, ps, ss, pad))
                        : mlir::Value(mlir::kiln::AvgPool2DOp::create(b, loc, t, x, ps, ss, pad));
    return reshapeTo(b, loc, y, out);
  }
};

/// The channels per convolution of depthwise(): the largest divisor of `c` up to 32.
int64_t depthwiseBlock(int64_t c) {
  for (int64_t b = std::min<int64_t>(c, 32); b > 1; --b)
    if (c % b == 0)
      return b;
  return 1;
}

/// The depthwise half of DepthwiseConv2D and SeparableConv2D with a (kh, kw, C, M) kernel:
/// blocks of B input channels (depthwiseBlock), each one kiln.conv2d whose (kh, kw, B, B * M)
/// kernel is the block's depthwise kernel spread on a diagonal (times an identity mask), the
/// outputs concatenated. One convolution per channel (Keras' groups = C) made a MobileNet
/// thousands of ops, more than the bufferization analysis gets through; the blocks' zeros
/// cost B times the depthwise multiply-adds, which are a small part of such networks.
mlir::Value depthwise(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x, mlir::Value k,
                      std::array<int64_t, 2> strides, std::array<int64_t, 2> dilation,
                      const std::string &padding, const Shape &out) {
  using namespace mlir::kiln;
  auto kt = llvm::cast<mlir::RankedTensorType>(k.getType());
  int64_t kh = kt.getDimSize(0), kw = kt.getDimSize(1), c = kt.getDimSize(2),
          m = kt.getDimSize(3);
  int64_t block = depthwiseBlock(c);
  if (block == 1) {
    mlir::Value g = ReshapeOp::create(b, loc, tensorType(b, {kh, kw, 1, c * m}), k,
                                      b.getDenseI64ArrayAttr({kw, 1, c * m}));
    return groupedConv(b, loc, x, g, c, strides, dilation, padding, out);
  }
  // mask[0, 0, i, j, 0] = (i == j): (kh, kw, B, 1, M) * mask = (kh, kw, B, B, M).
  auto maskType = mlir::RankedTensorType::get({1, 1, block, block, 1}, b.getF32Type());
  std::vector<float> eye(block * block, 0.0f);
  for (int64_t i = 0; i < block; ++i)
    eye[i * block + i] = 1.0f;
  mlir::Value mask = ConstantOp::create(b, loc, maskType,
                                        mlir::DenseElementsAttr::get(maskType, llvm::ArrayRef(eye)));
  auto i64 = [&](int64_t v) { return b.getI64IntegerAttr(v); };
  auto st = b.getDenseI64ArrayAttr(strides), dl = b.getDenseI64ArrayAttr(dilation);
  auto pad = b.getStringAttr(padding);
  auto xt = llvm::cast<mlir::RankedTensorType>(x.getType());
  Shape xs(xt.getShape().begin(), xt.getShape().end());
  xs[0] = -1;
  int64_t groups = c / block;
  llvm::SmallVector<mlir::Value> parts;
  for (int64_t g = 0; g < groups; ++g) {
    mlir::Value kg = k, xg = x;
    if (groups > 1) {
      kg = SliceOp::create(b, loc, tensorType(b, {kh, kw, block, m}), k, i64(2),
                           i64(g * block), i64(block));
      Shape xgs = xs;
      xgs[3] = block;
      xg = SliceOp::create(b, loc, tensorType(b, xgs), x, i64(3), i64(g * block), i64(block));
    }
    kg = ReshapeOp::create(b, loc, tensorType(b, {kh, kw, block, 1, m}), kg,
                           b.getDenseI64ArrayAttr({kw, block, 1, m}));
    kg = MulOp::create(b, loc, tensorType(b, {kh, kw, block, block, m}), kg, mask);
    kg = ReshapeOp::create(b, loc, tensorType(b, {kh, kw, block, block * m}), kg,
                           b.getDenseI64ArrayAttr({kw, block, block * m}));
    Shape og = out;
    og[3] = block * m;
    parts.push_back(Conv2DOp::create(b, loc, tensorType(b, og), xg, kg, st, dl, pad));
  }
  if (parts.size() == 1)
    return parts[0];
  return ConcatOp::create(b, loc, tensorType(b, out), parts, i64(3));
}

struct DepthwiseConv2DImpl : LayerImpl {
  DepthwiseConv2DImpl(std::array<int64_t, 2> k, DepthwiseConv2DOptions o)
      : LayerImpl("DepthwiseConv2D", stem(o.name, "depthwise_conv2d")), kernel(k),
        opts(std::move(o)) {
    checkWindow2D(*this, k, opts.strides, opts.dilation_rate, opts.padding);
    checkPositive(*this, "depth_multiplier", opts.depth_multiplier);
    checkChannelsLast(*this, opts.data_format);
    checkActivation(name, opts.activation);
    checkConstraint(name, opts.depthwise_constraint);
    checkConstraint(name, opts.bias_constraint);
    activityRegularizer = opts.activity_regularizer;
  }
  std::array<int64_t, 2> kernel;
  DepthwiseConv2DOptions opts;
  void getConfig(nlohmann::json &c) const override {
    c["kernel_size"] = kernel;
    c["strides"] = opts.strides;
    c["padding"] = opts.padding;
    c["depth_multiplier"] = opts.depth_multiplier;
    c["data_format"] = opts.data_format;
    c["dilation_rate"] = opts.dilation_rate;
    c["activation"] = opts.activation;
    c["use_bias"] = opts.use_bias;
    c["depthwise_initializer"] = initializerConfig(opts.depthwise_initializer);
    c["bias_initializer"] = initializerConfig(opts.bias_initializer);
    c["depthwise_regularizer"] = regularizerConfig(opts.depthwise_regularizer);
    c["bias_regularizer"] = regularizerConfig(opts.bias_regularizer);
    c["activity_regularizer"] = regularizerConfig(opts.activity_regularizer);
    c["depthwise_constraint"] = constraintConfig(opts.depthwise_constraint);
    c["bias_constraint"] = constraintConfig(opts.bias_constraint);
  }
  Shape outputShape(const std::vector<Shape> &in) const override {
    checkRank(*this, in[0], 4, "an NHWC");
    return window2DOutput(*this, in[0], kernel, opts.strides, opts.dilation_rate, opts.padding,
                          in[0][3] * opts.depth_multiplier);
  }
  void build(const std::vector<Shape> &in) override {
    addRegularized(*this, "depthwise_kernel",
                   {kernel[0], kernel[1], in[0][3], opts.depth_multiplier},
                   opts.depthwise_initializer, opts.depthwise_regularizer,
                   opts.depthwise_constraint);
    if (opts.use_bias)
      addRegularized(*this, "bias", {in[0][3] * opts.depth_multiplier}, opts.bias_initializer,
                     opts.bias_regularizer, opts.bias_constraint);
  }
  mlir::Value emit(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                   mlir::ValueRange w) const override {
    mlir::Value y = depthwise(b, loc, in[0], w[0], opts.strides, opts.dilation_rate,
                              opts.padding, outputShape({sampleShape(in[0])}));
    return biasActivation(b, loc, y, opts.use_bias ? w[1] : mlir::Value(), opts.activation);
  }
};

struct SeparableConv2DImpl : LayerImpl {
  SeparableConv2DImpl(int64_t filters, std::array<int64_t, 2> k, SeparableConv2DOptions o)
      : LayerImpl("SeparableConv2D", stem(o.name, "separable_conv2d")), filters(filters),
        kernel(k), opts(std::move(o)) {
    checkPositive(*this, "filters", filters);
    checkWindow2D(*this, k, opts.strides, opts.dilation_rate, opts.padding);
    checkPositive(*this, "depth_multiplier", opts.depth_multiplier);
    checkChannelsLast(*this, opts.data_format);
    checkActivation(name, opts.activation);
    checkConstraint(name, opts.depthwise_constraint);
    checkConstraint(name, opts.pointwise_constraint);
    checkConstraint(name, opts.bias_constraint);
    activityRegularizer = opts.activity_regularizer;
  }
  int64_t filters;
  std::array<int64_t, 2> kernel;
  SeparableConv2DOptions opts;
  void getConfig(nlohmann::json &c) const override {
    c["filters"] = filters;
    c["kernel_size"] = kernel;
    c["strides"] = opts.strides;
    c["padding"] = opts.padding;
    c["data_format"] = opts.data_format;
    c["dilation_rate"] = opts.dilation_rate;
    c["depth_multiplier"] = opts.depth_multiplier;
    c["activation"] = opts.activation;
    c["use_bias"] = opts.use_bias;
    c["depthwise_initializer"] = initializerConfig(opts.depthwise_initializer);
    c["pointwise_initializer"] = initializerConfig(opts.pointwise_initializer);
    c["bias_initializer"] = initializerConfig(opts.bias_initializer);
    c["depthwise_regularizer"] = regularizerConfig(opts.depthwise_regularizer);
    c["pointwise_regularizer"] = regularizerConfig(opts.pointwise_regularizer);
    c["bias_regularizer"] = regularizerConfig(opts.bias_regularizer);
    c["activity_regularizer"] = regularizerConfig(opts.activity_regularizer);
    c["depthwise_constraint"] = constraintConfig(opts.depthwise_constraint);
    c["pointwise_constraint"] = constraintConfig(opts.pointwise_constraint);
    c["bias_constraint"] = constraintConfig(opts.bias_constraint);
  }
  Shape depthwiseShape(const Shape &in) const {
    return window2DOutput(*this, in, kernel, opts.strides, opts.dilation_rate, opts.padding,
                          in[3] * opts.depth_multiplier);
  }
  Shape outputShape(const std::vector<Shape> &in) const override {
    checkRank(*this, in[0], 4, "an NHWC");
    Shape out = depthwiseShape(in[0]);
    out[3] = filters;
    return out;
  }
  void build(const std::vector<Shape> &in) override {
    int64_t c = in[0][3], m = opts.depth_multiplier;
    addRegularized(*this, "depthwise_kernel", {kernel[0], kernel[1], c, m},
                   opts.depthwise_initializer, opts.depthwise_regularizer,
                   opts.depthwise_constraint);
    addRegularized(*this, "pointwise_kernel", {1, 1, c * m, filters}, opts.pointwise_initializer,
                   opts.pointwise_regularizer, opts.pointwise_constraint);
    if (opts.use_bias)
      addRegularized(*this, "bias", {filters}, opts.bias_initializer, opts.bias_regularizer,
                     opts.bias_constraint);
  }
  mlir::Value emit(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                   mlir::ValueRange w) const override {
    Shape s = sampleShape(in[0]);
    mlir::Value y = depthwise(b, loc, in[0], w[0], opts.strides, opts.dilation_rate,
                              opts.padding, depthwiseShape(s));
    y = groupedConv(b, loc, y, w[1], 1, {1, 1}, {1, 1}, "valid", outputShape({s}));
    return biasActivation(b, loc, y, opts.use_bias ? w[2] : mlir::Value(), opts.activation);
  }
};

struct Conv2DTransposeImpl : LayerImpl {
  Conv2DTransposeImpl(int64_t filters, std::array<int64_t, 2> k, Conv2DOptions o)
      : LayerImpl("Conv2DTranspose", stem(o.name, "conv2d_transpose")), filters(filters),
        kernel(k), opts(std::move(o)) {
    checkPositive(*this, "filters", filters);
    checkWindow2D(*this, k, opts.strides, opts.dilation_rate, opts.padding);
    if (opts.groups != 1)
      throw error("groups must be 1 for Conv2DTranspose, got " + std::to_string(opts.groups));
    checkChannelsLast(*this, opts.data_format);
    checkActivation(name, opts.activation);
    checkConstraint(name, opts.kernel_constraint);
    checkConstraint(name, opts.bias_constraint);
    activityRegularizer = opts.activity_regularizer;
  }
  int64_t filters;
  std::array<int64_t, 2> kernel;
  Conv2DOptions opts;
  void getConfig(nlohmann::json &c) const override {
    c["filters"] = filters;
    c["kernel_size"] = kernel;
    c["strides"] = opts.strides;
    c["padding"] = opts.padding;
    c["output_padding"] = nullptr;
    c["data_format"] = opts.data_format;
    c["dilation_rate"] = opts.dilation_rate;
    c["activation"] = opts.activation;
    c["use_bias"] = opts.use_bias;
    c["kernel_initializer"] = initializerConfig(opts.kernel_initializer);
    c["bias_initializer"] = initializerConfig(opts.bias_initializer);
    c["kernel_regularizer"] = regularizerConfig(opts.kernel_regularizer);
    c["bias_regularizer"] = regularizerConfig(opts.bias_regularizer);
    c["activity_regularizer"] = regularizerConfig(opts.activity_regularizer);
    c["kernel_constraint"] = constraintConfig(opts.kernel_constraint);
    c["bias_constraint"] = constraintConfig(opts.bias_constraint);
  }
  Shape outputShape(const std::vector<Shape> &in) const override {
    checkRank(*this, in[0], 4, "an NHWC");
    Shape out = {in[0][0], 0, 0, filters};
    for (int i = 0; i < 2; ++i) { // Keras' deconv_output_length, output_padding None
      int64_t k = (kernel[i] - 1) * opts.dilation_rate[i] + 1, s = opts.strides[i];
      out[1 + i] = in[0][1 + i] * s + (opts.padding == "valid" ? std::max<int64_t>(k - s, 0) : 0);
    }
    return out;
  }
  void build(const std::vector<Shape> &in) override {
    addRegularized(*this, "kernel", {kernel[0], kernel[1], filters, in[0][3]},
                   opts.kernel_initializer, opts.kernel_regularizer, opts.kernel_constraint);
    if (opts.use_bias)
      addRegularized(*this, "bias", {filters}, opts.bias_initializer, opts.bias_regularizer,
                     opts.bias_constraint);
  }
  mlir::Value emit(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                   mlir::ValueRange w) const override {
    // The gradient of a conv2d with this (kh, kw, filters, in) kernel with respect to its input.
    mlir::Value y = mlir::kiln::Conv2DGradInputOp::create(
        b, loc, tensorType(b, outputShape({sampleShape(in[0])})), in[0], w[0],
        b.getDenseI64ArrayAttr(opts.strides), b.getDenseI64ArrayAttr(opts.dilation_rate),
        b.getStringAttr(opts.padding));
    return biasActivation(b, loc, y, opts.use_bias ? w[1] : mlir::Value(), opts.activation);
  }
};

struct DotImpl : LayerImpl {
  DotImpl(std::array<int64_t, 2> axes, DotOptions o)
      : LayerImpl("Dot", stem(o.name, "dot")), axes(axes), opts(std::move(o)) {}
  std::array<int64_t, 2> axes;
  DotOptions opts;
  int arity() const override { return 0; }
  void getConfig(nlohmann::json &c) const override {
    c["axes"] = axes[0] == axes[1] ? nlohmann::json(axes[0]) : nlohmann::json(axes);
    c["normalize"] = opts.normalize;
  }
  /// The dot axes as non-negative indices, checked.
  std::array<int64_t, 2> axesOf(const std::vector<Shape> &in) const {
    if (in.size() != 2)
      throw error("Dot expects exactly 2 inputs, got " + std::to_string(in.size()));
    int64_t rank = static_cast<int64_t>(in[0].size());
    if (in[1].size() != in[0].size() || (rank != 2 && rank != 3))
      throw error("kiln's Dot takes two inputs of rank 2 or 3 (batch included) of one rank, "
                  "got " + shapeString(in[0]) + " and " + shapeString(in[1]));
    std::array<int64_t, 2> a;
    for (int i = 0; i < 2; ++i) {
      a[i] = axes[i] < 0 ? axes[i] + rank : axes[i];
      if (a[i] < 1 || a[i] >= rank)
        throw error("axes (" + std::to_string(axes[0]) + ", " + std::to_string(axes[1]) +
                    ") are out of range for inputs " + shapeString(in[0]) + " and " +
                    shapeString(in[1]) + " (the batch axis cannot be summed over)");
    }
    if (in[0][a[0]] != in[1][a[1]])
      throw error("inputs " + shapeString(in[0]) + " and " + shapeString(in[1]) +
                  " differ along the dot axes (" + std::to_string(in[0][a[0]]) + " and " +
                  std::to_string(in[1][a[1]]) + ")");
    return a;
  }
  Shape outputShape(const std::vector<Shape> &in) const override {
    auto a = axesOf(in);
    if (in[0].size() == 2)
      return {in[0][0], 1};
    return {in[0][0], in[0][3 - a[0]], in[1][3 - a[1]]};
  }
  mlir::Value emit(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                   mlir::ValueRange) const override {
    using namespace mlir::kiln;
    std::vector<Shape> shapes = {sampleShape(in[0]), sampleShape(in[1])};
    auto a = axesOf(shapes);
    auto scalar = mlir::RankedTensorType::get({}, b.getF32Type());
    auto sum = [&](mlir::Value v, int64_t axis, bool keep) {
      Shape s = sampleShape(v);
      if (keep)
        s[axis] = 1;
      else
        s.erase(s.begin() + axis);
      return ReduceSumOp::create(b, loc, tensorType(b, s), v, b.getDenseI64ArrayAttr({axis}),
                                 b.getBoolAttr(keep))
          .getResult();
    };
    mlir::Value x[2] = {in[0], in[1]};
    if (opts.normalize) // Keras 3: x / max(||x||, 1e-7) along the dot axis
      for (int i = 0; i < 2; ++i) {
        mlir::Value sq = SquareOp::create(b, loc, x[i].getType(), x[i]);
        mlir::Value s = sum(sq, a[i], true);
        mlir::Value eps = ConstantOp::create(b, loc, scalar,
                                             mlir::DenseElementsAttr::get(scalar, 1e-14f));
        s = MaximumOp::create(b, loc, s.getType(), s, eps);
        x[i] = DivOp::create(b, loc, x[i].getType(), x[i],
                             SqrtOp::create(b, loc, s.getType(), s));
      }
    if (shapes[0].size() == 2)
      return sum(MulOp::create(b, loc, x[0].getType(), x[0], x[1]), 1, true);
    // Rank 3: each input's dot axis moved last, (N, n, 1, k) * (N, 1, m, k) summed over k.
    for (int i = 0; i < 2; ++i)
      if (a[i] == 1) {
        Shape s = sampleShape(x[i]);
        x[i] = TransposeOp::create(b, loc, tensorType(b, {-1, s[2], s[1]}), x[i],
                                   b.getDenseI64ArrayAttr({0, 2, 1}));
      }
    Shape s0 = sampleShape(x[0]), s1 = sampleShape(x[1]);
    mlir::Value l = reshapeTo(b, loc, x[0], {-1, s0[1], 1, s0[2]});
    mlir::Value r = reshapeTo(b, loc, x[1], {-1, 1, s1[1], s1[2]});
    mlir::Value p = MulOp::create(b, loc, tensorType(b, {-1, s0[1], s1[1], s0[2]}), l, r);
    return sum(p, 3, false);
  }
};

//===----------------------------------------------------------------------===//
// 3-D layers (issue 6): Conv3D, MaxPooling3D, AveragePooling3D (channels_last). Each output
// depth combines the 2-D op (kiln.conv2d, the 2-D pools) on the input's depth slices that its
// window covers, unrolled over the (static) depth as the recurrent layers are over the steps:
// a sum for Conv3D, a maximum or mean for the pools. Their gradients are those ops' rules.
//===----------------------------------------------------------------------===//

/// The (kernel depth, input depth) pairs of output depth `od` whose input depth is inside
/// [0, depth): "same" padding (TensorFlow's: the odd slice after) adds zeros, which add
/// nothing to a sum and are not counted by the pools.
std::vector<std::pair<int64_t, int64_t>> depthWindow(int64_t od, int64_t depth, int64_t k,
                                                     int64_t stride, int64_t dilation,
                                                     const std::string &padding) {
  int64_t before = 0;
  if (padding == "same") {
    int64_t out = (depth + stride - 1) / stride, span = (k - 1) * dilation + 1;
    before = std::max<int64_t>((out - 1) * stride + span - depth, 0) / 2;
  }
  std::vector<std::pair<int64_t, int64_t>> w;
  for (int64_t kd = 0; kd < k; ++kd) {
    int64_t id = od * stride + kd * dilation - before;
    if (id >= 0 && id < depth)
      w.push_back({kd, id});
  }
  return w;
}

/// Input depth `d` of an NDHWC `x` as an NHWC tensor.
mlir::Value depthSlice(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x, int64_t d) {
  Shape s = sampleShape(x), one = s;
  one[1] = 1;
  mlir::Value v = x;
  if (s[1] != 1)
    v = mlir::kiln::SliceOp::create(b, loc, tensorType(b, one), x, b.getI64IntegerAttr(1),
                                    b.getI64IntegerAttr(d), b.getI64IntegerAttr(1));
  return reshapeTo(b, loc, v, {-1, s[2], s[3], s[4]});
}

/// NHWC results, one per output depth, stacked into NDHWC.
mlir::Value stackDepths(mlir::OpBuilder &b, mlir::Location loc,
                        llvm::ArrayRef<mlir::Value> depths) {
  llvm::SmallVector<mlir::Value> parts;
  Shape s = sampleShape(depths[0]);
  for (mlir::Value v : depths)
    parts.push_back(reshapeTo(b, loc, v, {-1, 1, s[1], s[2], s[3]}));
  if (parts.size() == 1)
    return parts[0];
  return mlir::kiln::ConcatOp::create(
      b, loc, tensorType(b, {-1, static_cast<int64_t>(parts.size()), s[1], s[2], s[3]}), parts,
      b.getI64IntegerAttr(1));
}

/// The output (depth, rows, cols) of a 3-D window layer; throws when the input is too small.
Shape window3DOutput(const LayerImpl &l, const Shape &in, std::array<int64_t, 3> k,
                     std::array<int64_t, 3> strides, std::array<int64_t, 3> dilation,
                     const std::string &padding, int64_t channels) {
  checkRank(l, in, 5, "an NDHWC");
  Shape out = {in[0], 0, 0, 0, channels};
  for (int i = 0; i < 3; ++i) {
    out[1 + i] = windowOutput(in[1 + i], k[i], strides[i], dilation[i], padding);
    if (out[1 + i] <= 0)
      throw l.error("input shape " + shapeString(in) + " is too small for a (" +
                    std::to_string(k[0]) + ", " + std::to_string(k[1]) + ", " +
                    std::to_string(k[2]) + ") window with padding '" + padding + "'");
  }
  return out;
}

struct Conv3DImpl : LayerImpl {
  Conv3DImpl(int64_t filters, std::array<int64_t, 3> k, Conv3DOptions o)
      : LayerImpl("Conv3D", stem(o.name, "conv3d")), filters(filters), kernel(k),
        opts(std::move(o)) {
    checkPositive(*this, "filters", filters);
    bool strided = false, dilated = false;
    for (int i = 0; i < 3; ++i) {
      checkPositive(*this, "kernel_size", k[i]);
      checkPositive(*this, "strides", opts.strides[i]);
      checkPositive(*this, "dilation_rate", opts.dilation_rate[i]);
      strided |= opts.strides[i] > 1;
      dilated |= opts.dilation_rate[i] > 1;
    }
    if (strided && dilated)
      throw error("strides > 1 are not compatible with dilation_rate > 1 (as in Keras)");
    if (opts.groups != 1)
      throw error("groups must be 1 for kiln's Conv3D, got " + std::to_string(opts.groups));
    checkPadding(*this, opts.padding);
    checkChannelsLast(*this, opts.data_format);
    checkActivation(name, opts.activation);
    checkConstraint(name, opts.kernel_constraint);
    checkConstraint(name, opts.bias_constraint);
    activityRegularizer = opts.activity_regularizer;
  }
  int64_t filters;
  std::array<int64_t, 3> kernel;
  Conv3DOptions opts;
  void getConfig(nlohmann::json &c) const override {
    c["filters"] = filters;
    c["kernel_size"] = kernel;
    c["strides"] = opts.strides;
    c["padding"] = opts.padding;
    c["data_format"] = opts.data_format;
    c["dilation_rate"] = opts.dilation_rate;
    c["groups"] = opts.groups;
    c["activation"] = opts.activation;
    c["use_bias"] = opts.use_bias;
    c["kernel_initializer"] = initializerConfig(opts.kernel_initializer);
    c["bias_initializer"] = initializerConfig(opts.bias_initializer);
    c["kernel_regularizer"] = regularizerConfig(opts.kernel_regularizer);
    c["bias_regularizer"] = regularizerConfig(opts.bias_regularizer);
    c["activity_regularizer"] = regularizerConfig(opts.activity_regularizer);
    c["kernel_constraint"] = constraintConfig(opts.kernel_constraint);
    c["bias_constraint"] = constraintConfig(opts.bias_constraint);
  }
  Shape outputShape(const std::vector<Shape> &in) const override {
    return window3DOutput(*this, in[0], kernel, opts.strides, opts.dilation_rate, opts.padding,
                          filters);
  }
  void build(const std::vector<Shape> &in) override {
    addRegularized(*this, "kernel", {kernel[0], kernel[1], kernel[2], in[0][4], filters},
                   opts.kernel_initializer, opts.kernel_regularizer, opts.kernel_constraint);
    if (opts.use_bias)
      addRegularized(*this, "bias", {filters}, opts.bias_initializer, opts.bias_regularizer,
                     opts.bias_constraint);
  }
  mlir::Value emit(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                   mlir::ValueRange w) const override {
    using namespace mlir::kiln;
    Shape s = sampleShape(in[0]), out = outputShape({s});
    int64_t kd = kernel[0], kh = kernel[1], kw = kernel[2], c = s[4];
    // (kd, kh, kw, C, F) -> (kh, kd, kw, C, F), so that one kernel depth's (kh, kw, C, F)
    // slice is a slice along axis 1 and a reshape that keeps dimension 0.
    mlir::Value k = w[0];
    if (kd > 1)
      k = TransposeOp::create(b, loc, tensorType(b, {kh, kd, kw, c, filters}), k,
                              b.getDenseI64ArrayAttr({1, 0, 2, 3, 4}));
    std::vector<mlir::Value> kernels;
    for (int64_t d = 0; d < kd; ++d) {
      mlir::Value kv = k;
      if (kd > 1)
        kv = SliceOp::create(b, loc, tensorType(b, {kh, 1, kw, c, filters}), k,
                             b.getI64IntegerAttr(1), b.getI64IntegerAttr(d),
                             b.getI64IntegerAttr(1));
      kernels.push_back(ReshapeOp::create(b, loc, tensorType(b, {kh, kw, c, filters}), kv,
                                          b.getDenseI64ArrayAttr({kw, c, filters})));
    }
    std::map<int64_t, mlir::Value> slices;
    Shape plane = {-1, out[2], out[3], filters};
    llvm::SmallVector<mlir::Value> depths;
    for (int64_t od = 0; od < out[1]; ++od) {
      mlir::Value sum;
      for (auto [d, id] : depthWindow(od, s[1], kd, opts.strides[0], opts.dilation_rate[0],
                                      opts.padding)) {
        if (!slices.count(id))
          slices[id] = depthSlice(b, loc, in[0], id);
        mlir::Value y = Conv2DOp::create(
            b, loc, tensorType(b, plane), slices[id], kernels[d],
            b.getDenseI64ArrayAttr({opts.strides[1], opts.strides[2]}),
            b.getDenseI64ArrayAttr({opts.dilation_rate[1], opts.dilation_rate[2]}),
            b.getStringAttr(opts.padding));
        sum = sum ? AddOp::create(b, loc, y.getType(), sum, y).getResult() : y;
      }
      depths.push_back(sum);
    }
    return biasActivation(b, loc, stackDepths(b, loc, depths),
                          opts.use_bias ? w[1] : mlir::Value(), opts.activation);
  }
};

struct Pool3DImpl : LayerImpl {
  Pool3DImpl(bool max, std::array<int64_t, 3> pool, Pooling3DOptions o)
      : LayerImpl(max ? "MaxPooling3D" : "AveragePooling3D",
                  stem(o.name, max ? "max_pooling3d" : "average_pooling3d")),
        max(max), pool(pool), opts(std::move(o)) {
    for (int i = 0; i < 3; ++i)
      checkPositive(*this, "pool_size", pool[i]);
    if (opts.strides.empty())
      strides = pool;
    else if (opts.strides.size() == 3)
      strides = {opts.strides[0], opts.strides[1], opts.strides[2]};
    else if (opts.strides.size() == 1)
      strides = {opts.strides[0], opts.strides[0], opts.strides[0]};
    else
      throw error("strides must have 1 or 3 entries, got " +
                  std::to_string(opts.strides.size()));
    for (int i = 0; i < 3; ++i)
      checkPositive(*this, "strides", strides[i]);
    checkPadding(*this, opts.padding);
    checkChannelsLast(*this, opts.data_format);
  }
  bool max;
  std::array<int64_t, 3> pool, strides;
  Pooling3DOptions opts;
  void getConfig(nlohmann::json &c) const override {
    c["pool_size"] = pool;
    c["padding"] = opts.padding;
    c["strides"] = strides;
    c["data_format"] = opts.data_format;
  }
  Shape outputShape(const std::vector<Shape> &in) const override {
    return window3DOutput(*this, in[0], pool, strides, {1, 1, 1}, opts.padding, in[0][4]);
  }
  mlir::Value emit(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                   mlir::ValueRange) const override {
    using namespace mlir::kiln;
    Shape s = sampleShape(in[0]), out = outputShape({s});
    auto plane = tensorType(b, {-1, out[2], out[3], s[4]});
    auto ps = b.getDenseI64ArrayAttr({pool[1], pool[2]});
    auto ss = b.getDenseI64ArrayAttr({strides[1], strides[2]});
    auto pad = b.getStringAttr(opts.padding);
    std::map<int64_t, mlir::Value> pooled;
    llvm::SmallVector<mlir::Value> depths;
    for (int64_t od = 0; od < out[1]; ++od) {
      auto window = depthWindow(od, s[1], pool[0], strides[0], 1, opts.padding);
      mlir::Value acc;
      for (auto [d, id] : window) {
        (void)d;
        if (!pooled.count(id)) {
          mlir::Value x = depthSlice(b, loc, in[0], id);
          pooled[id] = max ? mlir::Value(MaxPool2DOp::create(b, loc, plane, x, ps, ss, pad))
                           : mlir::Value(AvgPool2DOp::create(b, loc, plane, x, ps, ss, pad));
        }
        mlir::Value p = pooled[id];
        acc = !acc ? p
              : max ? mlir::Value(MaximumOp::create(b, loc, plane, acc, p))
                    : mlir::Value(AddOp::create(b, loc, plane, acc, p));
      }
      if (!max && window.size() > 1) {
        // Each slice's mean counts the same rows and columns: the window's mean is the mean
        // of the slices' means.
        auto scalar = mlir::RankedTensorType::get({}, b.getF32Type());
        mlir::Value n = ConstantOp::create(
            b, loc, scalar,
            mlir::DenseElementsAttr::get(scalar, static_cast<float>(window.size())));
        acc = DivOp::create(b, loc, plane, acc, n);
      }
      depths.push_back(acc);
    }
    return stackDepths(b, loc, depths);
  }
};

struct EmbeddingImpl : LayerImpl {
  EmbeddingImpl(int64_t inputDim, int64_t outputDim, EmbeddingOptions o)
      : LayerImpl("Embedding", stem(o.name, "embedding")), inputDim(inputDim),
        outputDim(outputDim), opts(std::move(o)) {
    checkPositive(*this, "input_dim", inputDim);
    checkPositive(*this, "output_dim", outputDim);
  }
  int64_t inputDim, outputDim;
  EmbeddingOptions opts;
  void getConfig(nlohmann::json &c) const override {
    c["input_dim"] = inputDim;
    c["output_dim"] = outputDim;
    c["embeddings_initializer"] = initializerConfig(opts.embeddings_initializer);
    c["embeddings_regularizer"] = nullptr;
    c["activity_regularizer"] = nullptr;
    c["embeddings_constraint"] = nullptr;
    c["mask_zero"] = opts.mask_zero;
  }
  Shape outputShape(const std::vector<Shape> &in) const override {
    Shape out = in[0];
    out.push_back(outputDim);
    return out;
  }
  void build(const std::vector<Shape> &) override {
    addWeight("embeddings", {inputDim, outputDim}, opts.embeddings_initializer);
  }
  mlir::Value emit(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                   mlir::ValueRange w) const override {
    return mlir::kiln::GatherOp::create(b, loc, tensorType(b, outputShape({sampleShape(in[0])})),
                                        w[0], in[0]);
  }
  /// mask_zero: the input's entries that are not 0 (Keras' ops.not_equal(inputs, 0)).
  mlir::Value computeMask(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                          mlir::Value) const override {
    if (!opts.mask_zero)
      return {};
    auto scalar = mlir::RankedTensorType::get({}, b.getF32Type());
    mlir::Value zero = mlir::kiln::ConstantOp::create(
        b, loc, scalar, mlir::DenseElementsAttr::get(scalar, 0.0f));
    return mlir::kiln::CompareOp::create(b, loc, in[0].getType(), in[0], zero,
                                         b.getStringAttr("ne"));
  }
};

/// Keras' Masking: a step whose features all equal mask_value is masked, and zeroed.
struct MaskingImpl : LayerImpl {
  MaskingImpl(double maskValue, std::string name)
      : LayerImpl("Masking", stem(name, "masking")), maskValue(maskValue) {}
  double maskValue;
  bool supportsMasking() const override { return true; }
  void getConfig(nlohmann::json &c) const override { c["mask_value"] = maskValue; }
  Shape outputShape(const std::vector<Shape> &in) const override {
    if (in[0].size() < 2)
      throw error("expected an input of rank 2 or more (batch included), got shape " +
                  shapeString(in[0]));
    return in[0];
  }
  /// 1 where some feature differs from mask_value (Keras: any(x != mask_value, axis=-1)).
  mlir::Value kept(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x, bool keepdims) const {
    using namespace mlir::kiln;
    auto scalar = mlir::RankedTensorType::get({}, b.getF32Type());
    mlir::Value v = ConstantOp::create(
        b, loc, scalar, mlir::DenseElementsAttr::get(scalar, static_cast<float>(maskValue)));
    mlir::Value differs = CompareOp::create(b, loc, x.getType(), x, v, b.getStringAttr("ne"));
    Shape s = sampleShape(x);
    if (keepdims)
      s.back() = 1;
    else
      s.pop_back();
    return ReduceMaxOp::create(b, loc, tensorType(b, s), differs,
                               b.getDenseI64ArrayAttr({static_cast<int64_t>(s.size()) -
                                                       (keepdims ? 1 : 0)}),
                               b.getBoolAttr(keepdims));
  }
  mlir::Value emit(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                   mlir::ValueRange) const override {
    return mlir::kiln::MulOp::create(b, loc, in[0].getType(), in[0], kept(b, loc, in[0], true));
  }
  mlir::Value computeMask(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                          mlir::Value) const override {
    return kept(b, loc, in[0], false);
  }
};

/// SimpleRNN, LSTM and GRU, unrolled over the (static) steps into kiln ops, so that the
/// gradient through time is autodiff's of the unrolled chain.
struct RecurrentImpl : LayerImpl {
  enum Kind { Simple, Lstm, Gru };
  static const char *classOf(Kind k) {
    return k == Simple ? "SimpleRNN" : k == Lstm ? "LSTM" : "GRU";
  }
  static const char *baseOf(Kind k) { return k == Simple ? "simple_rnn" : k == Lstm ? "lstm" : "gru"; }
  RecurrentImpl(Kind kind, int64_t units, RecurrentOptions o)
      : LayerImpl(classOf(kind), stem(o.name, baseOf(kind))), kind(kind), units(units),
        opts(std::move(o)) {
    zeroOutputForMask = opts.zero_output_for_mask;
    checkPositive(*this, "units", units);
    for (double rate : {opts.dropout, opts.recurrent_dropout})
      if (!(rate >= 0.0 && rate < 1.0))
        throw error("dropout and recurrent_dropout must be in [0, 1), got " +
                    std::to_string(rate));
    checkActivation(name, opts.activation);
    if (kind != Simple)
      checkActivation(name, opts.recurrent_activation);
  }
  Kind kind;
  int64_t units;
  RecurrentOptions opts;
  /// Bidirectional's backward layer: a go_backwards sequence stacked back in input order.
  bool timeOrder = false;
  /// Keras' zero_output_for_mask in effect: the option (false by default, as in Keras 3), or
  /// return_sequences inside a Bidirectional, which forces it on both directions as Keras 3
  /// does.
  bool zeroOutputForMask = false;

  int64_t gates() const { return kind == Simple ? 1 : kind == Lstm ? 4 : 3; }
  bool resetAfter() const { return kind == Gru && opts.reset_after; }
  int numOutputs() const override {
    return opts.return_state ? (kind == Lstm ? 3 : 2) : 1;
  }

  void getConfig(nlohmann::json &c) const override {
    c["units"] = units;
    c["activation"] = opts.activation;
    if (kind != Simple)
      c["recurrent_activation"] = opts.recurrent_activation;
    c["use_bias"] = opts.use_bias;
    c["kernel_initializer"] = initializerConfig(opts.kernel_initializer);
    c["recurrent_initializer"] = initializerConfig(opts.recurrent_initializer);
    c["bias_initializer"] = initializerConfig(opts.bias_initializer);
    if (kind == Lstm)
      c["unit_forget_bias"] = opts.unit_forget_bias;
    for (const char *k : {"kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
                          "activity_regularizer", "kernel_constraint", "recurrent_constraint",
                          "bias_constraint"})
      c[k] = nullptr;
    c["dropout"] = opts.dropout;
    c["recurrent_dropout"] = opts.recurrent_dropout;
    if (opts.seed)
      c["seed"] = *opts.seed;
    c["return_sequences"] = opts.return_sequences;
    c["return_state"] = opts.return_state;
    c["go_backwards"] = opts.go_backwards;
    c["stateful"] = false;
    c["unroll"] = opts.unroll;
    if (opts.zero_output_for_mask) // as tf.keras 2 writes it: only when set
      c["zero_output_for_mask"] = true;
    if (kind == Gru)
      c["reset_after"] = opts.reset_after;
  }

  Shape outputShape(const std::vector<Shape> &in) const override {
    checkRank(*this, in[0], 3, "a (batch, steps, features)");
    if (in[0][1] <= 0 || in[0][2] <= 0)
      throw error("the steps and features of the input must be known, got shape " +
                  shapeString(in[0]));
    if (opts.return_sequences)
      return {in[0][0], in[0][1], units};
    return {in[0][0], units};
  }
  std::vector<Shape> extraOutputShapes(const std::vector<Shape> &in) const override {
    return std::vector<Shape>(numOutputs() - 1, Shape{in[0][0], units});
  }
  void build(const std::vector<Shape> &in) override {
    std::string cell = std::string(baseOf(kind)) + "_cell/";
    int64_t g = gates() * units;
    addWeight(cell + "kernel", {in[0][2], g}, opts.kernel_initializer);
    addWeight(cell + "recurrent_kernel", {units, g}, opts.recurrent_initializer);
    if (!opts.use_bias)
      return;
    if (resetAfter()) {
      addWeight(cell + "bias", {2, g}, opts.bias_initializer);
      return;
    }
    addWeight(cell + "bias", {g}, opts.bias_initializer);
    if (kind == Lstm && opts.unit_forget_bias) // Keras: the forget gate's part is Ones
      for (int64_t i = units; i < 2 * units; ++i)
        weights.back().value.data[i] = 1.0f;
  }

  mlir::Value emit(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                   mlir::ValueRange w) const override {
    return emitAll(b, loc, in, w, {})[0];
  }
  mlir::Value emitTraining(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                           mlir::ValueRange w, mlir::Value step,
                           std::vector<mlir::Value> &) const override {
    return emitAll(b, loc, in, w, step)[0];
  }
  llvm::SmallVector<mlir::Value> emitAll(mlir::OpBuilder &b, mlir::Location loc,
                                         mlir::ValueRange in, mlir::ValueRange w,
                                         mlir::Value step) const override {
    return emitSteps(b, loc, in, w, step, {});
  }

  // Keras' masking: a masked step keeps the previous state (h, and c for LSTM); its output
  // is the previous step's output, or zeros with zeroOutputForMask.
  bool supportsMasking() const override { return true; }
  bool honoursMask() const override { return true; }
  mlir::Value computeMask(mlir::OpBuilder &, mlir::Location, mlir::ValueRange,
                          mlir::Value mask) const override {
    return opts.return_sequences ? mask : mlir::Value();
  }
  llvm::SmallVector<mlir::Value> emitMasked(mlir::OpBuilder &b, mlir::Location loc,
                                            mlir::ValueRange in, mlir::ValueRange w,
                                            mlir::Value step, mlir::Value mask) const override {
    return emitSteps(b, loc, in, w, step, mask);
  }
  /// Throws unless `mask` is the (batch, steps) mask of input `x`.
  void checkMask(mlir::Value x, mlir::Value mask) const {
    Shape xs = sampleShape(x), ms = sampleShape(mask);
    if (ms.size() != 2 || ms[1] != xs[1])
      throw error("the Keras mask of its input has shape " + shapeString(ms) +
                  "; a recurrent layer takes a (batch, steps) mask, here (None, " +
                  std::to_string(xs[1]) + ")");
  }

  /// The seed of the input (`which` = "dropout") or recurrent mask, from the layer's name and
  /// the seed option: every layer (and each direction of a Bidirectional) draws its own masks.
  int64_t maskSeed(const std::string &which) const {
    uint64_t h = 1469598103934665603ull; // FNV-1a
    std::string key = name + "/" + (opts.seed ? std::to_string(*opts.seed) : "") + "/" + which;
    for (char c : key)
      h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    return static_cast<int64_t>(h >> 1);
  }

  /// The unrolled steps; `mask` null: no mask.
  llvm::SmallVector<mlir::Value> emitSteps(mlir::OpBuilder &b, mlir::Location loc,
                                           mlir::ValueRange in, mlir::ValueRange w,
                                           mlir::Value step, mlir::Value mask) const {
    using namespace mlir::kiln;
    mlir::Value x = in[0];
    if (mask)
      checkMask(x, mask);
    // Training: Keras' variational dropout, one mask per sequence for the inputs and one for
    // the state fed to the recurrent kernel. kiln.dropout's mask depends on (seed, step,
    // element index), so the same op on every step's (batch, features) slice drops the same
    // elements at every step.
    auto dropped = [&](mlir::Value v, double rate, const char *which) -> mlir::Value {
      if (!step || rate <= 0)
        return v;
      return DropoutOp::create(b, loc, v.getType(), v, step,
                               b.getF32FloatAttr(static_cast<float>(rate)),
                               b.getI64IntegerAttr(maskSeed(which)), b.getBoolAttr(true));
    };
    Shape xs = sampleShape(x);
    int64_t steps = xs[1], features = xs[2], u = units;
    auto slice = [&](mlir::Value v, int64_t axis, int64_t start, int64_t size) -> mlir::Value {
      Shape s = sampleShape(v);
      if (llvm::cast<mlir::RankedTensorType>(v.getType()).getRank() > 0 &&
          !llvm::cast<mlir::RankedTensorType>(v.getType()).isDynamicDim(0))
        s[0] = llvm::cast<mlir::RankedTensorType>(v.getType()).getDimSize(0);
      int64_t a = axis < 0 ? axis + static_cast<int64_t>(s.size()) : axis;
      if (s[a] == size)
        return v;
      s[a] = size;
      return SliceOp::create(b, loc, tensorType(b, s), v, b.getI64IntegerAttr(axis),
                             b.getI64IntegerAttr(start), b.getI64IntegerAttr(size));
    };
    auto typeOf = [](mlir::Value v) { return v.getType(); };
    auto add = [&](mlir::Value l, mlir::Value r) -> mlir::Value {
      return AddOp::create(b, loc, typeOf(l), l, r);
    };
    auto mul = [&](mlir::Value l, mlir::Value r) -> mlir::Value {
      return MulOp::create(b, loc, typeOf(l), l, r);
    };
    auto matmul = [&](mlir::Value l, mlir::Value r) -> mlir::Value {
      auto rt = llvm::cast<mlir::RankedTensorType>(r.getType());
      return MatmulOp::create(b, loc, tensorType(b, {-1, rt.getDimSize(1)}), l, r);
    };
    auto act = [&](mlir::Value v) { return emitActivation(b, loc, opts.activation, v); };
    auto ract = [&](mlir::Value v) {
      return emitActivation(b, loc, opts.recurrent_activation, v);
    };
    auto scalar = mlir::RankedTensorType::get({}, b.getF32Type());
    mlir::Value one =
        ConstantOp::create(b, loc, scalar, mlir::DenseElementsAttr::get(scalar, 1.0f));

    mlir::Value kernel = w[0], recurrent = w[1], bias, recurrentBias;
    if (opts.use_bias) {
      bias = w[2];
      if (resetAfter()) { // row 0: the input bias, row 1: the recurrent bias, as (1, 3u)
        int64_t g = gates() * u;
        auto row = [&](int64_t r) -> mlir::Value {
          return SliceOp::create(b, loc, tensorType(b, {1, g}), w[2], b.getI64IntegerAttr(0),
                                 b.getI64IntegerAttr(r), b.getI64IntegerAttr(1));
        };
        bias = row(0);
        recurrentBias = row(1);
      }
    }
    // GRU without reset_after multiplies r * h by the h part of the recurrent kernel alone.
    mlir::Value recurrentZR, recurrentH;
    if (kind == Gru && !opts.reset_after) {
      recurrentZR = slice(recurrent, -1, 0, 2 * u);
      recurrentH = slice(recurrent, -1, 2 * u, u);
    }

    mlir::Value h, c; // null: the zero initial state
    llvm::SmallVector<mlir::Value> outputs;
    for (int64_t k = 0; k < steps; ++k) {
      int64_t t = opts.go_backwards ? steps - 1 - k : k;
      mlir::Value hPrev = h, cPrev = c;
      mlir::Value xt = SliceOp::create(b, loc, tensorType(b, {-1, 1, features}), x,
                                       b.getI64IntegerAttr(1), b.getI64IntegerAttr(t),
                                       b.getI64IntegerAttr(1));
      xt = ReshapeOp::create(b, loc, tensorType(b, {-1, features}), xt,
                             b.getDenseI64ArrayAttr({features}));
      mlir::Value z = matmul(dropped(xt, opts.dropout, "dropout"), kernel);
      if (bias)
        z = add(z, bias);
      mlir::Value hd = h ? dropped(h, opts.recurrent_dropout, "recurrent_dropout") : h;
      if (kind == Simple) {
        h = act(h ? add(z, matmul(hd, recurrent)) : z);
      } else if (kind == Lstm) {
        if (h)
          z = add(z, matmul(hd, recurrent));
        mlir::Value i = ract(slice(z, -1, 0, u)), f = ract(slice(z, -1, u, u));
        mlir::Value g = act(slice(z, -1, 2 * u, u)), o = ract(slice(z, -1, 3 * u, u));
        c = c ? add(mul(f, c), mul(i, g)) : mul(i, g);
        h = mul(o, act(c));
      } else {
        mlir::Value xz = slice(z, -1, 0, u), xr = slice(z, -1, u, u), xh = slice(z, -1, 2 * u, u);
        mlir::Value zg, hh;
        if (opts.reset_after) {
          mlir::Value inner = h ? matmul(hd, recurrent) : mlir::Value();
          if (recurrentBias)
            inner = inner ? add(inner, recurrentBias) : recurrentBias;
          if (inner) {
            zg = ract(add(xz, slice(inner, -1, 0, u)));
            mlir::Value r = ract(add(xr, slice(inner, -1, u, u)));
            hh = act(add(xh, mul(r, slice(inner, -1, 2 * u, u))));
          } else {
            zg = ract(xz);
            hh = act(xh);
          }
        } else if (h) {
          mlir::Value hzr = matmul(hd, recurrentZR);
          zg = ract(add(xz, slice(hzr, -1, 0, u)));
          mlir::Value r = ract(add(xr, slice(hzr, -1, u, u)));
          hh = act(add(xh, matmul(mul(r, hd), recurrentH)));
        } else {
          zg = ract(xz);
          hh = act(xh);
        }
        // h = z * h_prev + (1 - z) * hh
        mlir::Value keep = SubOp::create(b, loc, typeOf(zg), one, zg);
        mlir::Value next = mul(keep, hh);
        h = h ? add(mul(zg, h), next) : next;
      }
      mlir::Value out = h;
      if (mask) {
        // m * new + (1 - m) * old with the step's (batch, 1) mask: a select that autodiff
        // differentiates as products (the masked steps pass the old state's gradient on).
        mlir::Value m = slice(mask, 1, t, 1);
        mlir::Value notM = SubOp::create(b, loc, typeOf(m), one, m);
        auto keep = [&](mlir::Value next, mlir::Value old) {
          return old ? add(mul(next, m), mul(old, notM)) : mul(next, m);
        };
        h = keep(h, hPrev);
        if (kind == Lstm)
          c = keep(c, cPrev);
        out = zeroOutputForMask ? mul(h, m) : h;
      }
      if (opts.return_sequences)
        outputs.push_back(ReshapeOp::create(b, loc, tensorType(b, {-1, 1, u}), out,
                                            b.getDenseI64ArrayAttr({1, u})));
    }
    if (timeOrder && opts.go_backwards)
      std::reverse(outputs.begin(), outputs.end());
    llvm::SmallVector<mlir::Value> results;
    if (opts.return_sequences)
      results.push_back(outputs.size() == 1
                            ? outputs[0]
                            : ConcatOp::create(b, loc, tensorType(b, {-1, steps, u}), outputs,
                                               b.getI64IntegerAttr(1))
                                  .getResult());
    else
      results.push_back(h);
    if (opts.return_state) {
      results.push_back(h);
      if (kind == Lstm)
        results.push_back(c);
    }
    return results;
  }
};

/// Renames `inner`'s weights into `outer`'s: "<outer>/<prefix><inner weight name>".
void adoptWeights(LayerImpl &outer, LayerImpl &inner, const std::string &prefix) {
  for (Weight &w : inner.weights) {
    std::string rest = w.name.substr(inner.name.size() + 1); // "lstm_cell/kernel:0"
    outer.weights.push_back({outer.name + "/" + prefix + rest, w.value, w.trainable});
  }
  inner.weights.clear();
}

struct TimeDistributedImpl : LayerImpl {
  TimeDistributedImpl(std::shared_ptr<LayerImpl> inner, std::string name)
      : LayerImpl("TimeDistributed", stem(name, "time_distributed")), inner(std::move(inner)) {
    if (!this->inner)
      throw error("needs a layer to apply");
    if (this->inner->arity() != 1 || this->inner->numOutputs() != 1)
      throw error("wraps layers of one input and one output, not " + this->inner->className);
    if (this->inner->built)
      throw error("the wrapped layer '" + this->inner->name +
                  "' is already built; give TimeDistributed a new layer");
  }
  std::shared_ptr<LayerImpl> inner;
  /// Keras 3: the mask passes through. Keras hands each step's slice of it to a wrapped layer
  /// that reads masks (a recurrent layer); kiln does not, and refuses that case.
  bool supportsMasking() const override { return true; }
  bool honoursMask() const override { return inner->honoursMask(); }
  llvm::SmallVector<mlir::Value> emitMasked(mlir::OpBuilder &, mlir::Location, mlir::ValueRange,
                                            mlir::ValueRange, mlir::Value,
                                            mlir::Value) const override {
    throw error("cannot pass the Keras mask of its input on to the wrapped " +
                inner->className + " (kiln's TimeDistributed does not slice masks)");
  }

  /// The wrapped layer's input: the steps' axis removed.
  static Shape stepShape(const Shape &in) {
    Shape s = in;
    s.erase(s.begin() + 1);
    return s;
  }
  Shape outputShape(const std::vector<Shape> &in) const override {
    if (in[0].size() < 3)
      throw error("expected an input of rank 3 or more (batch, steps, ...), got shape " +
                  shapeString(in[0]));
    Shape out = inner->outputShape({stepShape(in[0])});
    out.insert(out.begin() + 1, in[0][1]);
    return out;
  }
  void build(const std::vector<Shape> &in) override {
    inner->build({stepShape(in[0])});
    inner->built = true;
    inner->builtInputShape = stepShape(in[0]);
    adoptWeights(*this, *inner, "");
  }
  std::vector<std::pair<std::string, const LayerImpl *>> wrappedLayers() const override {
    return {{"layer", inner.get()}};
  }
  /// Layers that act on the last axis alone run on (batch, steps, ...) as is; others once per
  /// step, on slices, with the results stacked.
  bool lastAxisOnly() const {
    return inner->className == "Dense" || inner->className == "Activation" ||
           inner->className == "Dropout";
  }
  mlir::Value emit(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                   mlir::ValueRange w) const override {
    return emitSteps(b, loc, in[0], [&](mlir::Value x) { return inner->emit(b, loc, x, w); });
  }
  mlir::Value emitTraining(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                           mlir::ValueRange w, mlir::Value step,
                           std::vector<mlir::Value> &newState) const override {
    if (inner->className == "BatchNormalization")
      throw error("TimeDistributed(BatchNormalization) cannot train in kiln");
    return emitSteps(b, loc, in[0], [&](mlir::Value x) {
      return inner->emitTraining(b, loc, x, w, step, newState);
    });
  }
  template <typename F>
  mlir::Value emitSteps(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x, F apply) const {
    using namespace mlir::kiln;
    if (lastAxisOnly())
      return apply(x);
    Shape xs = sampleShape(x);
    Shape step = stepShape(xs), sliced = xs;
    sliced[1] = 1;
    llvm::SmallVector<mlir::Value> outs;
    for (int64_t t = 0; t < xs[1]; ++t) {
      mlir::Value xt = SliceOp::create(b, loc, tensorType(b, sliced), x, b.getI64IntegerAttr(1),
                                       b.getI64IntegerAttr(t), b.getI64IntegerAttr(1));
      xt = ReshapeOp::create(b, loc, tensorType(b, step), xt,
                             b.getDenseI64ArrayAttr(llvm::ArrayRef<int64_t>(step).drop_front()));
      mlir::Value y = apply(xt);
      Shape ys = sampleShape(y), one = ys;
      one.insert(one.begin() + 1, 1);
      outs.push_back(ReshapeOp::create(
          b, loc, tensorType(b, one), y,
          b.getDenseI64ArrayAttr(llvm::ArrayRef<int64_t>(one).drop_front())));
    }
    Shape out = sampleShape(outs[0]);
    out[1] = xs[1];
    if (outs.size() == 1)
      return outs[0];
    return ConcatOp::create(b, loc, tensorType(b, out), outs, b.getI64IntegerAttr(1));
  }
};

struct BidirectionalImpl : LayerImpl {
  BidirectionalImpl(std::shared_ptr<RecurrentImpl> layer, std::string mergeMode,
                    std::string name)
      : LayerImpl("Bidirectional", stem(name, "bidirectional")), mergeMode(std::move(mergeMode)) {
    if (!layer)
      throw error("needs a SimpleRNN, LSTM or GRU layer");
    if (layer->built)
      throw error("the wrapped layer '" + layer->name +
                  "' is already built; give Bidirectional a new layer");
    if (this->mergeMode != "concat" && this->mergeMode != "sum" && this->mergeMode != "mul" &&
        this->mergeMode != "ave")
      throw error("merge_mode '" + this->mergeMode +
                  "' is not supported (kiln has concat, sum, mul, ave)");
    // As Keras 3: the directions are "forward_<name>" and "backward_<name>", and a config
    // read back (whose layer is already "forward_...") keeps those names.
    innerName = layer->name.starts_with("forward_") ? layer->name.substr(8) : layer->name;
    RecurrentOptions fo = layer->opts, bo = layer->opts;
    fo.name = "forward_" + innerName;
    bo.name = "backward_" + innerName;
    bo.go_backwards = !fo.go_backwards;
    forward = std::make_shared<RecurrentImpl>(layer->kind, layer->units, fo);
    backward = std::make_shared<RecurrentImpl>(layer->kind, layer->units, bo);
    backward->timeOrder = true;
    forward->timeOrder = true;
    forward->zeroOutputForMask = backward->zeroOutputForMask = fo.return_sequences;
    // What Keras 3 writes for the wrapped layer; reading it back forces it again.
    forward->opts.zero_output_for_mask = backward->opts.zero_output_for_mask = false;
  }
  std::string mergeMode, innerName;
  std::shared_ptr<RecurrentImpl> forward, backward;

  int states() const { return forward->numOutputs() - 1; }
  int numOutputs() const override { return 1 + 2 * states(); }
  Shape outputShape(const std::vector<Shape> &in) const override {
    Shape out = forward->outputShape(in);
    if (mergeMode == "concat")
      out.back() *= 2;
    return out;
  }
  std::vector<Shape> extraOutputShapes(const std::vector<Shape> &in) const override {
    std::vector<Shape> f = forward->extraOutputShapes(in);
    std::vector<Shape> all = f;
    all.insert(all.end(), f.begin(), f.end());
    return all;
  }
  void build(const std::vector<Shape> &in) override {
    forward->build(in);
    backward->build(in);
    forward->built = backward->built = true;
    adoptWeights(*this, *forward, forward->name + "/");
    adoptWeights(*this, *backward, backward->name + "/");
  }
  void getConfig(nlohmann::json &c) const override { c["merge_mode"] = mergeMode; }
  std::vector<std::pair<std::string, const LayerImpl *>> wrappedLayers() const override {
    return {{"layer", forward.get()}};
  }
  mlir::Value emit(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                   mlir::ValueRange w) const override {
    return emitAll(b, loc, in, w, {})[0];
  }
  mlir::Value emitTraining(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                           mlir::ValueRange w, mlir::Value step,
                           std::vector<mlir::Value> &) const override {
    return emitAll(b, loc, in, w, step)[0];
  }
  bool supportsMasking() const override { return true; }
  bool honoursMask() const override { return true; }
  mlir::Value computeMask(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange in,
                          mlir::Value mask) const override {
    return forward->computeMask(b, loc, in, mask);
  }
  llvm::SmallVector<mlir::Value> emitAll(mlir::OpBuilder &b, mlir::Location loc,
                                         mlir::ValueRange in, mlir::ValueRange w,
                                         mlir::Value step) const override {
    return emitMasked(b, loc, in, w, step, {});
  }
  llvm::SmallVector<mlir::Value> emitMasked(mlir::OpBuilder &b, mlir::Location loc,
                                            mlir::ValueRange in, mlir::ValueRange w,
                                            mlir::Value step, mlir::Value mask) const override {
    using namespace mlir::kiln;
    size_t half = w.size() / 2;
    auto f = forward->emitSteps(b, loc, in, w.take_front(half), step, mask);
    auto r = backward->emitSteps(b, loc, in, w.drop_front(half), step, mask);
    mlir::Value y = f[0], yr = r[0];
    mlir::Value merged;
    if (mergeMode == "concat") {
      merged = ConcatOp::create(b, loc, tensorType(b, outputShape({sampleShape(in[0])})),
                                mlir::ValueRange{y, yr}, b.getI64IntegerAttr(-1));
    } else if (mergeMode == "mul") {
      merged = MulOp::create(b, loc, y.getType(), y, yr);
    } else {
      merged = AddOp::create(b, loc, y.getType(), y, yr);
      if (mergeMode == "ave") {
        auto scalar = mlir::RankedTensorType::get({}, b.getF32Type());
        mlir::Value half2 =
            ConstantOp::create(b, loc, scalar, mlir::DenseElementsAttr::get(scalar, 0.5f));
        merged = MulOp::create(b, loc, y.getType(), merged, half2);
      }
    }
    llvm::SmallVector<mlir::Value> out = {merged};
    out.append(f.begin() + 1, f.end());
    out.append(r.begin() + 1, r.end());
    return out;
  }
};

} // namespace

void checkEmbeddingIndices(const ModelImpl &m, const std::vector<Array> &xs) {
  for (const Node &n : m.nodes) {
    auto *e = dynamic_cast<const EmbeddingImpl *>(n.layer.get());
    if (!e)
      continue;
    for (size_t i = 0; i < m.inputs.size() && i < xs.size(); ++i) {
      if (n.inputs[0] != m.inputs[i])
        continue;
      const Array &x = xs[i];
      for (int64_t k = 0; k < x.size(); ++k) {
        float v = x.data[k];
        if (std::isnan(v) || std::trunc(v) < 0 || std::trunc(v) >= float(e->inputDim)) {
          std::ostringstream os;
          os << v;
          throw e->error("input '" + m.inputs[i]->layer->name + "' holds index " + os.str() +
                         " (sample " + std::to_string(x.shape[0] ? k / (x.size() / x.shape[0]) : 0) +
                         "), outside [0, " + std::to_string(e->inputDim) + ") (input_dim)");
        }
      }
    }
  }
}

void ModelImpl::checkInputValues(const std::vector<Array> &xs) const {
  checkEmbeddingIndices(*this, xs);
}

std::shared_ptr<TensorImpl> makeInput(Shape shape, const std::string &name) {
  auto layer = std::make_shared<InputLayerImpl>(
      "InputLayer", name.empty() ? uniqueName("input", /*zeroBased=*/false) : name);
  for (int64_t d : shape)
    if (d <= 0)
      throw layer->error("Input shape entries must be positive, got " + shapeString(shape) +
                         " (leave the batch out: it stays dynamic)");
  if (shape.empty())
    throw layer->error("Input needs a per-sample shape, e.g. kiln::Input({784})");
  shape.insert(shape.begin(), -1);
  auto t = std::make_shared<TensorImpl>();
  t->shape = shape;
  t->layer = layer;
  layer->built = true;
  layer->builtInputShape = shape;
  layer->calls.push_back(t);
  return t;
}

} // namespace detail

//===----------------------------------------------------------------------===//
// The public handles.
//===----------------------------------------------------------------------===//

using namespace detail;

const std::vector<int64_t> &Tensor::shape() const {
  if (!impl)
    throw Error("", "an empty kiln::Tensor has no shape");
  return impl->shape;
}
std::string Tensor::shape_string() const { return shapeString(shape()); }
const std::string &Tensor::name() const {
  if (!impl)
    throw Error("", "an empty kiln::Tensor has no name");
  return impl->layer->name;
}

Tensor Input(std::vector<int64_t> shape, InputOptions options) {
  return Tensor(makeInput(std::move(shape), options.name));
}

namespace {
void checkSingleOutput(const LayerImpl &l) {
  if (l.numOutputs() > 1)
    throw l.error("returns " + std::to_string(l.numOutputs()) +
                  " tensors (return_state); call it with call_all(x) to get them all");
}
} // namespace

Tensor Layer::operator()(const Tensor &input) const {
  checkSingleOutput(*impl);
  return Tensor(callLayer(impl, {input.impl}));
}
std::vector<Tensor> Layer::call_all(const Tensor &input) const {
  std::vector<Tensor> out;
  for (auto &t : callLayerAll(impl, {input.impl}))
    out.emplace_back(t);
  return out;
}
Tensor Layer::operator()(const std::vector<Tensor> &inputs) const {
  checkSingleOutput(*impl);
  std::vector<std::shared_ptr<TensorImpl>> in;
  for (const Tensor &t : inputs)
    in.push_back(t.impl);
  return Tensor(callLayer(impl, in));
}
const std::string &Layer::name() const { return impl->name; }
const std::string &Layer::class_name() const { return impl->className; }
bool Layer::built() const { return impl->built; }
std::vector<Array> Layer::get_weights() const {
  std::vector<Array> out;
  for (const Weight &w : impl->weights)
    out.push_back(w.value);
  return out;
}
void Layer::set_weights(const std::vector<Array> &weights) {
  if (weights.size() != impl->weights.size())
    throw impl->error("set_weights got " + std::to_string(weights.size()) +
                      " arrays, the layer has " + std::to_string(impl->weights.size()) +
                      " weights" + (impl->built ? "" : " (it is not built yet)"));
  for (size_t i = 0; i < weights.size(); ++i)
    if (weights[i].shape != impl->weights[i].value.shape)
      throw impl->error("weight '" + impl->weights[i].name + "' has shape " +
                        shapeString(impl->weights[i].value.shape) +
                        ", the provided array has shape " + shapeString(weights[i].shape));
  for (size_t i = 0; i < weights.size(); ++i)
    impl->weights[i].value = weights[i];
}
std::vector<std::string> Layer::weight_names() const {
  std::vector<std::string> out;
  for (const Weight &w : impl->weights)
    out.push_back(w.name);
  return out;
}
int64_t Layer::count_params() const { return impl->countParams(); }
bool Layer::trainable() const { return impl->trainable; }
void Layer::set_trainable(bool trainable) { impl->setTrainable(trainable); }

namespace layers {
Dense::Dense(int64_t units, DenseOptions options)
    : Layer(std::make_shared<DenseImpl>(units, std::move(options))) {}
Conv2D::Conv2D(int64_t filters, std::array<int64_t, 2> kernel_size, Conv2DOptions options)
    : Layer(std::make_shared<Conv2DImpl>(filters, kernel_size, std::move(options))) {}
MaxPooling2D::MaxPooling2D(std::array<int64_t, 2> pool_size, Pooling2DOptions options)
    : Layer(std::make_shared<Pool2DImpl>(true, pool_size, std::move(options))) {}
AveragePooling2D::AveragePooling2D(std::array<int64_t, 2> pool_size, Pooling2DOptions options)
    : Layer(std::make_shared<Pool2DImpl>(false, pool_size, std::move(options))) {}
Flatten::Flatten(NameOptions options)
    : Layer(std::make_shared<ReshapeImpl>("Flatten", stem(options.name, "flatten"), Shape{-1})) {
}
Reshape::Reshape(std::vector<int64_t> target_shape, NameOptions options)
    : Layer(std::make_shared<ReshapeImpl>("Reshape", stem(options.name, "reshape"),
                                          std::move(target_shape))) {}
Activation::Activation(std::string activation, NameOptions options)
    : Layer(std::make_shared<ActivationImpl>(std::move(activation), options.name)) {}
ReLU::ReLU(ReLUOptions options) : Layer(std::make_shared<ReLUImpl>(std::move(options))) {}
ReLU::ReLU(double max_value, ReLUOptions options)
    : ReLU([&] {
        options.max_value = max_value;
        return std::move(options);
      }()) {}
Dropout::Dropout(double rate, DropoutOptions options)
    : Layer(std::make_shared<DropoutImpl>(rate, std::move(options))) {}
GaussianNoise::GaussianNoise(double stddev, DropoutOptions options)
    : Layer(std::make_shared<NoiseImpl>(NoiseImpl::Additive, stddev, options.seed,
                                        "channels_last", options.name)) {}
GaussianDropout::GaussianDropout(double rate, DropoutOptions options)
    : Layer(std::make_shared<NoiseImpl>(NoiseImpl::Multiplicative, rate, options.seed,
                                        "channels_last", options.name)) {}
SpatialDropout2D::SpatialDropout2D(double rate, SpatialDropout2DOptions options)
    : Layer(std::make_shared<NoiseImpl>(NoiseImpl::Spatial, rate, options.seed,
                                        options.data_format, options.name)) {}
Add::Add(NameOptions options) : Layer(std::make_shared<MergeImpl>("Add", "add", options.name)) {}
Multiply::Multiply(NameOptions options)
    : Layer(std::make_shared<MergeImpl>("Multiply", "multiply", options.name)) {}
Subtract::Subtract(NameOptions options)
    : Layer(std::make_shared<MergeImpl>("Subtract", "subtract", options.name)) {}
Average::Average(NameOptions options)
    : Layer(std::make_shared<MergeImpl>("Average", "average", options.name)) {}
Maximum::Maximum(NameOptions options)
    : Layer(std::make_shared<MergeImpl>("Maximum", "maximum", options.name)) {}
Minimum::Minimum(NameOptions options)
    : Layer(std::make_shared<MergeImpl>("Minimum", "minimum", options.name)) {}
BatchNormalization::BatchNormalization(BatchNormalizationOptions options)
    : Layer(std::make_shared<BatchNormImpl>(std::move(options))) {}
GlobalAveragePooling2D::GlobalAveragePooling2D(GlobalPoolingOptions options)
    : Layer(std::make_shared<GlobalPoolImpl>(false, 2, std::move(options))) {}
GlobalMaxPooling2D::GlobalMaxPooling2D(GlobalPoolingOptions options)
    : Layer(std::make_shared<GlobalPoolImpl>(true, 2, std::move(options))) {}
GlobalAveragePooling1D::GlobalAveragePooling1D(GlobalPoolingOptions options)
    : Layer(std::make_shared<GlobalPoolImpl>(false, 1, std::move(options))) {}
GlobalMaxPooling1D::GlobalMaxPooling1D(GlobalPoolingOptions options)
    : Layer(std::make_shared<GlobalPoolImpl>(true, 1, std::move(options))) {}
LayerNormalization::LayerNormalization(LayerNormalizationOptions options)
    : Layer(std::make_shared<LayerNormImpl>(std::move(options))) {}
ZeroPadding2D::ZeroPadding2D(Sides2D padding, Spatial2DOptions options)
    : Layer(std::make_shared<Sides2DImpl>(false, padding, std::move(options))) {}
Cropping2D::Cropping2D(Sides2D cropping, Spatial2DOptions options)
    : Layer(std::make_shared<Sides2DImpl>(true, cropping, std::move(options))) {}
UpSampling2D::UpSampling2D(std::array<int64_t, 2> size, UpSampling2DOptions options)
    : Layer(std::make_shared<UpSampling2DImpl>(size, std::move(options))) {}
Permute::Permute(std::vector<int64_t> dims, NameOptions options)
    : Layer(std::make_shared<PermuteImpl>(std::move(dims), options.name)) {}
RepeatVector::RepeatVector(int64_t n, NameOptions options)
    : Layer(std::make_shared<RepeatVectorImpl>(n, options.name)) {}
Concatenate::Concatenate(ConcatenateOptions options)
    : Layer(std::make_shared<ConcatenateImpl>(std::move(options))) {}
// The convolution family (issue 6).
Conv1D::Conv1D(int64_t filters, int64_t kernel_size, Conv1DOptions options)
    : Layer(std::make_shared<Conv1DImpl>(filters, kernel_size, std::move(options))) {}
MaxPooling1D::MaxPooling1D(int64_t pool_size, Pooling1DOptions options)
    : Layer(std::make_shared<Pool1DImpl>(true, pool_size, std::move(options))) {}
AveragePooling1D::AveragePooling1D(int64_t pool_size, Pooling1DOptions options)
    : Layer(std::make_shared<Pool1DImpl>(false, pool_size, std::move(options))) {}
DepthwiseConv2D::DepthwiseConv2D(std::array<int64_t, 2> kernel_size,
                                 DepthwiseConv2DOptions options)
    : Layer(std::make_shared<DepthwiseConv2DImpl>(kernel_size, std::move(options))) {}
SeparableConv2D::SeparableConv2D(int64_t filters, std::array<int64_t, 2> kernel_size,
                                 SeparableConv2DOptions options)
    : Layer(std::make_shared<SeparableConv2DImpl>(filters, kernel_size, std::move(options))) {}
Conv2DTranspose::Conv2DTranspose(int64_t filters, std::array<int64_t, 2> kernel_size,
                                 Conv2DTransposeOptions options)
    : Layer(std::make_shared<Conv2DTransposeImpl>(filters, kernel_size, std::move(options))) {}
Dot::Dot(std::array<int64_t, 2> axes, DotOptions options)
    : Layer(std::make_shared<DotImpl>(axes, std::move(options))) {}
Conv3D::Conv3D(int64_t filters, std::array<int64_t, 3> kernel_size, Conv3DOptions options)
    : Layer(std::make_shared<Conv3DImpl>(filters, kernel_size, std::move(options))) {}
MaxPooling3D::MaxPooling3D(std::array<int64_t, 3> pool_size, Pooling3DOptions options)
    : Layer(std::make_shared<Pool3DImpl>(true, pool_size, std::move(options))) {}
AveragePooling3D::AveragePooling3D(std::array<int64_t, 3> pool_size, Pooling3DOptions options)
    : Layer(std::make_shared<Pool3DImpl>(false, pool_size, std::move(options))) {}
Embedding::Embedding(int64_t input_dim, int64_t output_dim, EmbeddingOptions options)
    : Layer(std::make_shared<EmbeddingImpl>(input_dim, output_dim, std::move(options))) {}
Masking::Masking(double mask_value, NameOptions options)
    : Layer(std::make_shared<MaskingImpl>(mask_value, options.name)) {}
SimpleRNN::SimpleRNN(int64_t units, RecurrentOptions options)
    : Layer(std::make_shared<RecurrentImpl>(RecurrentImpl::Simple, units, std::move(options))) {}
LSTM::LSTM(int64_t units, RecurrentOptions options)
    : Layer(std::make_shared<RecurrentImpl>(RecurrentImpl::Lstm, units, std::move(options))) {}
GRU::GRU(int64_t units, RecurrentOptions options)
    : Layer(std::make_shared<RecurrentImpl>(RecurrentImpl::Gru, units, std::move(options))) {}
TimeDistributed::TimeDistributed(const Layer &layer, NameOptions options)
    : Layer(std::make_shared<TimeDistributedImpl>(layer.impl, options.name)) {}
Bidirectional::Bidirectional(const Layer &layer, BidirectionalOptions options)
    : Layer(std::make_shared<BidirectionalImpl>(
          std::dynamic_pointer_cast<RecurrentImpl>(layer.impl), options.merge_mode,
          options.name)) {}
} // namespace layers

namespace backend {
void clear_session() {
  std::lock_guard<std::mutex> lock(namesMutex);
  nameCounters().clear();
}
} // namespace backend

} // namespace kiln
