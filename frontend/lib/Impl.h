//===- Impl.h - the frontend's graph: layers, calls, tensors, models -------===//
#ifndef KILN_FRONTEND_IMPL_H
#define KILN_FRONTEND_IMPL_H

#include "kiln/Error.h"
#include "kiln/Model.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Value.h"

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

namespace mlir::kiln {
class JitModule;
}

namespace kiln::detail {

using Shape = std::vector<int64_t>;

struct Weight {
  std::string name; // Keras' "dense/kernel:0"
  Array value;
  bool trainable = true;
};

/// A symbolic tensor: produced by call `nodeIndex` of `layer` on `inputs`.
struct TensorImpl {
  Shape shape; // batch first, -1
  std::shared_ptr<LayerImpl> layer;
  int nodeIndex = 0;
  std::vector<std::shared_ptr<TensorImpl>> inputs;
};

/// A layer: its name, weights and the kind-specific rules for shapes and IR.
struct LayerImpl : std::enable_shared_from_this<LayerImpl> {
  LayerImpl(std::string className, std::string name);
  virtual ~LayerImpl() = default;

  std::string className, name;
  bool built = false;
  Shape builtInputShape; // the first input's shape at build (shared calls must agree)
  std::vector<Weight> weights;
  /// The output tensor of each call, in call order (Keras' inbound nodes).
  std::vector<std::weak_ptr<TensorImpl>> calls;

  /// How many inputs a call takes: 1, or 0 for "two or more" (merges).
  virtual int arity() const { return 1; }
  /// Checks the inputs' shapes and returns the output shape; throws kiln::Error.
  virtual Shape outputShape(const std::vector<Shape> &inputs) const = 0;
  /// Creates the weights for these input shapes (called once, at the first call).
  virtual void build(const std::vector<Shape> &inputs) {}
  /// Emits the layer's ops at `b`'s insertion point.
  virtual mlir::Value emit(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange inputs,
                           mlir::ValueRange weights) const = 0;

  /// Writes the layer's own Keras config keys (units, activation, ...) into `config`; the
  /// common keys (name, trainable, dtype) are the caller's (KerasConfig.cpp).
  virtual void getConfig(nlohmann::json &config) const {}

  Error error(const std::string &message) const { return Error(name, message); }
  void addWeight(const std::string &suffix, const Shape &shape, const Initializer &init,
                 bool trainable = true);
  int64_t countParams() const;
};

/// Keras' serialized initializer, {"class_name": "GlorotUniform", "config": {"seed": null}}.
nlohmann::json initializerConfig(const Initializer &init);

/// Throws kiln::Error naming `layer` unless `activation` is one kiln knows.
void checkActivation(const std::string &layer, const std::string &activation);
/// Emits `activation` applied to `x`.
mlir::Value emitActivation(mlir::OpBuilder &b, mlir::Location loc, const std::string &activation,
                           mlir::Value x);

/// "dense", "dense_1", ...: Keras' per-session unique names.
std::string uniqueName(const std::string &base, bool zeroBased = true);
std::string shapeString(const Shape &shape);

/// One call of a layer inside a model.
struct Node {
  std::shared_ptr<LayerImpl> layer;
  std::shared_ptr<TensorImpl> output;
  std::vector<std::shared_ptr<TensorImpl>> inputs;
  int depth = 0; // Keras' node depth: 0 at the outputs
};

struct Compiled; // the JIT, see Predict.cpp

struct ModelImpl {
  std::string name;
  bool sequential = false;
  // The graph, once built.
  std::vector<std::shared_ptr<TensorImpl>> inputs, outputs;
  std::vector<Node> nodes;                        // topological (Keras' DFS post-order)
  std::vector<std::shared_ptr<LayerImpl>> layers; // Keras' model.layers order
  // Sequential: layers added so far and the running output.
  std::vector<std::shared_ptr<LayerImpl>> pending;
  std::shared_ptr<TensorImpl> seqInput, seqOutput;

  std::shared_ptr<Compiled> compiled;
  ~ModelImpl();

  bool isBuilt() const { return !outputs.empty(); }
  /// Finds nodes and orders layers from `inputs` and `outputs`; throws on a disconnected graph.
  void buildGraph();
  /// Every weight of every layer in get_weights() order.
  std::vector<Weight *> allWeights() const;
};

/// A model input: an InputLayer called once.
std::shared_ptr<TensorImpl> makeInput(Shape shape, const std::string &name);

std::shared_ptr<TensorImpl> callLayer(const std::shared_ptr<LayerImpl> &layer,
                                      const std::vector<std::shared_ptr<TensorImpl>> &inputs);

} // namespace kiln::detail

#endif // KILN_FRONTEND_IMPL_H
