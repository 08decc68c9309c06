//===- Impl.h - the frontend's graph: layers, calls, tensors, models -------===//
#ifndef KILN_FRONTEND_IMPL_H
#define KILN_FRONTEND_IMPL_H

#include "kiln/Error.h"
#include "kiln/FitLoop.h"
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
  /// Keras' layer.trainable: false freezes every weight of the layer (see setTrainable).
  bool trainable = true;
  /// Keras' activity_regularizer: a penalty on every output of the layer.
  std::optional<Regularizer> activityRegularizer;
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
  /// Keras' masking. A mask is a float tensor of 1 (kept) and 0 (masked) shaped like the
  /// batch and steps of a sequence, (batch, steps); emitForward carries one from the layer that
  /// makes it (Embedding(mask_zero), Masking) through the layers that pass it on to the layers
  /// that honour it.
  ///
  /// Keras' supports_masking: the call passes its first input's mask on to its output (unless
  /// computeMask says otherwise). A layer that does not support masking drops it, as Keras 3
  /// does (with a warning there).
  virtual bool supportsMasking() const { return false; }
  /// Keras' compute_mask: the mask of output 0 (null: none) from the inputs and the first
  /// input's mask (null: none).
  virtual mlir::Value computeMask(mlir::OpBuilder &b, mlir::Location loc,
                                  mlir::ValueRange inputs, mlir::Value mask) const {
    return supportsMasking() ? mask : mlir::Value();
  }
  /// Layers whose output depends on the mask (SimpleRNN, LSTM, GRU, Bidirectional,
  /// GlobalAveragePooling1D): emitMasked emits the call on a masked input instead of
  /// emit / emitTraining / emitAll.
  virtual bool honoursMask() const { return false; }
  /// Every output of the call on a masked input, in training mode when `step` is given (as
  /// emitAll; such layers keep no state).
  virtual llvm::SmallVector<mlir::Value> emitMasked(mlir::OpBuilder &b, mlir::Location loc,
                                                    mlir::ValueRange inputs,
                                                    mlir::ValueRange weights, mlir::Value step,
                                                    mlir::Value mask) const {
    return emitAll(b, loc, inputs, weights, step);
  }
  /// Throws kiln::Error if the layer cannot run on a masked input in this mode (a masked
  /// BatchNormalization in training: Keras computes masked moments, kiln does not).
  virtual void checkMasked(bool training) const {}
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
  Weight &addWeight(const std::string &suffix, const Shape &shape, const Initializer &init,
                    bool trainable = true);
  int64_t countParams() const;
  /// Sets `trainable` and each weight's effective flag.
  void setTrainable(bool on);
};

/// Keras' serialized initializer, {"class_name": "GlorotUniform", "config": {"seed": null}}.
nlohmann::json initializerConfig(const Initializer &init);
/// Keras' serialized regularizer ({"class_name": "L2", "config": {"l2": 0.01}}) or null.
nlohmann::json regularizerConfig(const std::optional<Regularizer> &r);
/// Keras' serialized constraint ({"class_name": "MaxNorm", "config": {...}}) or null.
nlohmann::json constraintConfig(const std::optional<Constraint> &c);
/// Throws kiln::Error naming `layer` unless `c` is a constraint kiln knows.
void checkConstraint(const std::string &layer, const std::optional<Constraint> &c);

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
struct ModelImpl : FitModel {
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
  ~ModelImpl() override;

  bool isBuilt() const { return !outputs.empty(); }
  /// Finds nodes and orders layers from `inputs` and `outputs`; throws on a disconnected graph.
  void buildGraph();
  /// Every weight of every layer in get_weights() order.
  std::vector<Weight *> allWeights() const override;

  // FitModel: what fit and the callbacks use (Training.cpp).
  const std::string &modelName() const override { return name; }
  std::vector<std::pair<std::string, Shape>> inputSpecs() const override;
  std::vector<std::pair<std::string, Shape>> outputSpecs() const override;
  Training *trainingState() const override { return training.get(); }
  void ensureSteps(const std::vector<Shape> &targetShapes) override;
  bool onGpu() const override { return gpu; }
  void checkInputValues(const std::vector<Array> &xs) const override;
  bool wholeBatchSteps() const override {
    for (const auto &l : layers)
      if (l->activityRegularizer)
        return true;
    return false;
  }
  void checkDevice() override;
  void keepResident(const std::vector<std::pair<void *, size_t>> &buffers) override;
  void syncResident() override;
  void clearResident() override;
  std::vector<Array> get_weights() const override;
  void set_weights(const std::vector<Array> &weights) override;
  void save(const std::string &path) const override;
  void save_weights(const std::string &path) const override;
  void load_weights(const std::string &path) override;
};

struct ModelImpl;
/// Emits the model's layers at `b` on `inputs` with `weights` (get_weights() order); returns
/// the outputs' values.
/// With `step` (a tensor<i64>), layers run in training mode, and `newState` (if given) receives,
/// per weight in get_weights() order, its updated value or null where the layer keeps it.
/// `layerOutputs` (if given) receives every layer call's output, in emission order.
struct LayerOutput {
  const LayerImpl *layer;
  mlir::Value value;
};
/// `outputMasks` (if given) receives, per model output, the name of the layer whose mask
/// reaches it (Keras would mask the loss with it), or "" where none does.
llvm::SmallVector<mlir::Value> emitForward(const ModelImpl &m, mlir::OpBuilder &b,
                                           mlir::ValueRange inputs, mlir::ValueRange weights,
                                           mlir::Value step = {},
                                           std::vector<mlir::Value> *newState = nullptr,
                                           std::vector<LayerOutput> *layerOutputs = nullptr,
                                           std::vector<std::string> *outputMasks = nullptr);
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
