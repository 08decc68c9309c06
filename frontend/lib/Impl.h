//===- Impl.h - the frontend's graph: layers, calls, tensors, models -------===//
#ifndef KILN_FRONTEND_IMPL_H
#define KILN_FRONTEND_IMPL_H

#include "kiln/Error.h"
#include "kiln/Model.h"

#include "codegen/Jit.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Value.h"

#include <nlohmann/json.hpp>

#include <exception>
#include <memory>
#include <string>
#include <thread>
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
  /// A layer with several outputs (return_state) makes one tensor per output: output 0 is
  /// the call's tensor in `layer->calls`; the others (`tensorIndex` > 0) hold it in `primary`,
  /// and it lists them all (weakly) in `outputs`.
  int tensorIndex = 0;
  std::shared_ptr<TensorImpl> primary;
  std::vector<std::weak_ptr<TensorImpl>> outputs;
  /// Output 0 of the call that made this tensor.
  const TensorImpl *call() const { return primary ? primary.get() : this; }
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
  /// How many tensors a call makes (recurrent layers with return_state: 2 or 3).
  virtual int numOutputs() const { return 1; }
  /// The shapes of outputs 1.. of a call (output 0's is outputShape's).
  virtual std::vector<Shape> extraOutputShapes(const std::vector<Shape> &inputs) const {
    return {};
  }
  /// Emits a layer with several outputs: every output's value, in order; in training mode
  /// when `step` is given (emitTraining's counter; such layers keep no state).
  virtual llvm::SmallVector<mlir::Value> emitAll(mlir::OpBuilder &b, mlir::Location loc,
                                                 mlir::ValueRange inputs,
                                                 mlir::ValueRange weights,
                                                 mlir::Value step) const {
    return {emit(b, loc, inputs, weights)};
  }
  /// Checks the inputs' shapes and returns the output shape; throws kiln::Error.
  virtual Shape outputShape(const std::vector<Shape> &inputs) const = 0;
  /// Creates the weights for these input shapes (called once, at the first call).
  virtual void build(const std::vector<Shape> &inputs) {}
  /// Emits the layer's ops at `b`'s insertion point.
  virtual mlir::Value emit(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange inputs,
                           mlir::ValueRange weights) const = 0;
  /// Emits the layer in training mode (Dropout drops, BatchNormalization uses the batch's
  /// statistics); `step` is the training step's iteration counter, a tensor<i64>. A layer with
  /// state (non-trainable weights it updates) sets `newState[i]` to the next value of its i-th
  /// weight.
  virtual mlir::Value emitTraining(mlir::OpBuilder &b, mlir::Location loc,
                                   mlir::ValueRange inputs, mlir::ValueRange weights,
                                   mlir::Value step,
                                   std::vector<mlir::Value> &newState) const {
    return emit(b, loc, inputs, weights);
  }

  /// Writes the layer's own Keras config keys (units, activation, ...) into `config`; the
  /// common keys (name, trainable, dtype) are the caller's (KerasConfig.cpp).
  virtual void getConfig(nlohmann::json &config) const {}
  /// Wrappers (TimeDistributed, Bidirectional): the config keys holding a wrapped layer's
  /// serialized config, and that layer.
  virtual std::vector<std::pair<std::string, const LayerImpl *>> wrappedLayers() const {
    return {};
  }

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

/// A memref descriptor {allocated, aligned, offset, sizes[r], strides[r]} over row-major data,
/// as the generated code's C interface takes it.
struct Descriptor {
  std::vector<int64_t> fields;
  Descriptor(const void *data, const Shape &shape) {
    fields.resize(3 + 2 * shape.size());
    auto p = reinterpret_cast<int64_t>(data);
    fields[0] = fields[1] = p;
    fields[2] = 0;
    int64_t stride = 1;
    for (size_t i = shape.size(); i-- > 0;) {
      fields[3 + i] = shape[i];
      fields[3 + shape.size() + i] = stride;
      stride *= shape[i];
    }
  }
};

/// Calls a packed entry point with `descs` (inputs, then out-params). An allocation the
/// compiled code cannot make throws kiln::Error naming `model`, the `entry` point and the
/// `batch` (rows of this call).
void callPacked(void (*fn)(void **), std::vector<Descriptor> &descs, const std::string &model,
                const char *entry, int64_t batch);

/// Joins `workers`, then rethrows the first exception one of them (or the caller) stored.
void joinAll(std::vector<std::thread> &workers, std::vector<std::exception_ptr> &errors);

/// Threads for a call: `requested`, else KILN_NUM_THREADS, else the machine's cores.
int threadCount(int requested);

/// A compiled module and its entry points.
struct Compiled {
  std::unique_ptr<mlir::MLIRContext> context;
  std::unique_ptr<mlir::kiln::JitModule> jit;
  void (*predict)(void **) = nullptr;
  void (*gradStep)(void **) = nullptr;
  void (*applyStep)(void **) = nullptr;
  void (*evalStep)(void **) = nullptr;
};
/// Lowers `module` (in `c.context`) to native code; throws kiln::Error naming `model`.
void compileModule(Compiled &c, mlir::ModuleOp module, const std::string &model, bool gpu,
                   const std::string &diagnostics);
/// With compile({.device = "gpu"}): throws kiln::Error naming `model` if a CUDA call failed.
void checkGpu(const std::string &model);
struct Training; // compile() state, see Training.cpp

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
  std::shared_ptr<Training> training;
  bool gpu = false; // compile({.device = "gpu"}): predict, fit and evaluate run on the GPU
  bool stopTraining = false;
  ~ModelImpl();

  bool isBuilt() const { return !outputs.empty(); }
  /// Finds nodes and orders layers from `inputs` and `outputs`; throws on a disconnected graph.
  void buildGraph();
  /// Every weight of every layer in get_weights() order.
  std::vector<Weight *> allWeights() const;
};

struct ModelImpl;
/// Emits the model's layers at `b` on `inputs` with `weights` (get_weights() order); returns
/// the outputs' values.
/// With `step` (a tensor<i64>), layers run in training mode, and `newState` (if given) receives,
/// per weight in get_weights() order, its updated value or null where the layer keeps it.
llvm::SmallVector<mlir::Value> emitForward(const ModelImpl &m, mlir::OpBuilder &b,
                                           mlir::ValueRange inputs, mlir::ValueRange weights,
                                           mlir::Value step = {},
                                           std::vector<mlir::Value> *newState = nullptr);
/// A new context with every dialect the pipelines use.
std::unique_ptr<mlir::MLIRContext> newContext();

/// Throws kiln::Error naming the Embedding layer if an input array that feeds one directly
/// holds an index outside [0, input_dim) (after truncation toward zero, as Keras casts), or a
/// NaN: TensorFlow refuses such indices; the compiled code would clamp them.
void checkEmbeddingIndices(const ModelImpl &m, const std::vector<Array> &xs);

/// A model input: an InputLayer called once.
std::shared_ptr<TensorImpl> makeInput(Shape shape, const std::string &name);

/// Calls `layer` on `inputs`: its first output (callLayerAll: all of them).
std::shared_ptr<TensorImpl> callLayer(const std::shared_ptr<LayerImpl> &layer,
                                      const std::vector<std::shared_ptr<TensorImpl>> &inputs);
std::vector<std::shared_ptr<TensorImpl>>
callLayerAll(const std::shared_ptr<LayerImpl> &layer,
             const std::vector<std::shared_ptr<TensorImpl>> &inputs);

} // namespace kiln::detail

#endif // KILN_FRONTEND_IMPL_H
