//===- FitLoop.h - Keras' fit / evaluate loop over compiled step functions -===//
//
// The host side of training, without a compiler: batching and shuffling, validation, metrics
// aggregated as Keras aggregates them, callbacks (the progress bar among them) and the
// optimizer's per-step scalars. The numerical work of a batch is done by compiled entry points
// (@grad_step, @apply_step, @eval_step) that a FitModel supplies: the frontend's JIT for
// kiln::Model::fit, or an object linked into a standalone trainer (kilnc compile --emit=exe
// --train). Both run this one loop. Internal to kiln: the API is kiln::Model (Model.h).
//
//===----------------------------------------------------------------------===//
#ifndef KILN_RUNTIME_FITLOOP_H
#define KILN_RUNTIME_FITLOOP_H

#include "kiln/Array.h"
#include "kiln/GuardedCall.h"
#include "kiln/Regularizers.h"
#include "kiln/Training.h"

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace kiln::detail {

using Shape = std::vector<int64_t>;

struct Weight {
  std::string name; // Keras' "dense/kernel:0"
  Array value;
  /// Whether the optimizer updates it: the variable's own flag (moving statistics are never
  /// trainable) and its layer's `trainable`.
  bool trainable = true;
  /// The variable's own flag, kept while the layer is frozen.
  bool variableTrainable = true;
  /// Keras' kernel_regularizer / bias_regularizer (a penalty added to the loss) and
  /// kernel_constraint / bias_constraint (applied after each optimizer update).
  std::optional<Regularizer> regularizer;
  std::optional<Constraint> constraint;
};

struct LossSpec {
  std::string name; // Keras' canonical function name
  bool fromLogits = false;
  double delta = 1.0;
};

struct MetricSpec {
  std::string name; // as the user wrote it: what History and the progress bar show
  std::string kind; // the resolved function: binary_accuracy, categorical_accuracy, ...
  /// AUC's and MeanIoU's options.
  std::optional<metrics::Metric> object;
};

/// Scalars @apply_step takes after the slots: the learning rate, then factors the host
/// computes per step (Adam's bias correction, Nadam's momentum schedule...).
constexpr int kHyperScalars = 4;

/// compile()'s state: the loss, optimizer and metrics, the optimizer's slots and counters, and
/// the compiled steps.
struct Training {
  optimizers::Optimizer optimizer;
  std::vector<LossSpec> losses; // one per output
  std::vector<MetricSpec> metrics;
  std::vector<std::vector<Array>> slots; // per trainable weight, in get_weights() order
  /// Each weight's trainable flag at compile(), in get_weights() order (Keras reads
  /// layer.trainable at compile).
  std::vector<bool> trainableAtCompile;
  int64_t iterations = 0;
  double nadamProduct = 1.0; // Keras' Nadam _u_product
  // Buffers reused from step to step (gradients per thread slice, the next weights and slots),
  // so that a step allocates and page-faults nothing of the model's size.
  std::vector<std::vector<Array>> gradBuffers;
  std::vector<Array> nextWeights, nextSlots, nextState;
  // The compiled steps, for the target shapes they were compiled for; `stepsOwner` keeps the
  // code that holds them alive (the JIT's module).
  std::vector<Shape> targetShapes;
  StepFn gradStep = nullptr, applyStep = nullptr, evalStep = nullptr;
  std::shared_ptr<void> stepsOwner;
};

/// Optimizer slots per weight (Adam: m and v).
int slotCount(const optimizers::Optimizer &o);
/// compile()'s initial slots for `weights` (zeros; Adagrad's and Ftrl's accumulator filled).
void initSlots(Training &t, const std::vector<Weight *> &weights);

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

/// Calls `fn` with `descs` through callGuarded; an allocation the compiled code cannot make
/// throws kiln::Error naming `model`, the `entry` point and the `batch` (rows of this call).
void callPacked(StepFn fn, std::vector<Descriptor> &descs, const std::string &model,
                const char *entry, int64_t batch);

/// Joins `workers`, then rethrows the first exception one of them (or the caller) stored.
void joinAll(std::vector<std::thread> &workers, std::vector<std::exception_ptr> &errors);

/// Threads for a call: `requested`, else KILN_NUM_THREADS, else the machine's cores.
int threadCount(int requested);

/// What fit, evaluate and the callbacks need of a model: its weights and interface, the
/// training state and a way to get compiled steps. kiln::Model's implementation is one; the
/// standalone trainer's tables are another.
class FitModel {
public:
  virtual ~FitModel() = default;
  virtual const std::string &modelName() const = 0;
  /// Every weight in get_weights() order.
  virtual std::vector<Weight *> allWeights() const = 0;
  /// Per input / output: its Keras shape (batch -1) and the name errors use (its layer).
  virtual std::vector<std::pair<std::string, Shape>> inputSpecs() const = 0;
  virtual std::vector<std::pair<std::string, Shape>> outputSpecs() const = 0;
  /// The compile() state; null before compile().
  virtual Training *trainingState() const = 0;
  /// Makes sure `trainingState()`'s steps are compiled for targets of these shapes.
  virtual void ensureSteps(const std::vector<Shape> &targetShapes) = 0;
  /// Runs on the GPU: steps take whole batches and checkDevice reports failures.
  virtual bool onGpu() const { return false; }
  /// Whether a step must see the whole batch in one call (an activity regularizer's penalty
  /// sums over the batch's rows: the slices' row-weighted means would shrink it).
  virtual bool wholeBatchSteps() const { return false; }
  /// Throws kiln::Error on input values the model cannot take (an Embedding's index out of
  /// range), after the shapes were checked.
  virtual void checkInputValues(const std::vector<Array> &xs) const {}
  virtual void checkDevice() {}
  /// GPU: keeps these host buffers' contents on the device between steps (weights, optimizer
  /// slots, gradients); their host copies are stale until syncResident().
  virtual void keepResident(const std::vector<std::pair<void *, size_t>> &buffers) {}
  /// Copies what is newer on the device back to the host buffers, which are authoritative
  /// again (the next step uploads them): before host code reads or writes the weights.
  virtual void syncResident() {}
  /// syncResident(), then forgets the resident buffers.
  virtual void clearResident() {}
  /// Open ResidentScopes: while positive, GPU steps keep the model's buffers resident.
  int residentDepth = 0;

  virtual std::vector<Array> get_weights() const;
  virtual void set_weights(const std::vector<Array> &weights);
  /// Keras HDF5 files: the model (config, weights, training state) or its weights.
  virtual void save(const std::string &path) const = 0;
  virtual void save_weights(const std::string &path) const = 0;
  virtual void load_weights(const std::string &path) = 0;

  /// "loss", then each metric (prefixed with the output's name when there are several).
  std::vector<std::string> metrics_names() const;
  /// trainingState(), or kiln::Error saying `what` needs compile().
  Training &requireTraining(const char *what) const;

  bool stopTraining = false;
};

/// The FitModel behind a kiln::Model, for callbacks that were handed a Model (users set
/// Callback::model); set by the frontend when it is linked in.
extern FitModel *(*fitModelOf)(Model *model);

/// A number as a person would write it: 3, 0.5, nan.
std::string formatNumber(double v);

/// Checks x and y against the model and the losses; returns the sample count.
int64_t checkData(const FitModel &m, const Training &t, const std::vector<Array> &xs,
                  const std::vector<Array> &ys, const char *what);

/// The target shapes of `ys` with the batch as -1 (what the steps are compiled for).
std::vector<Shape> targetShapesOf(const std::vector<Array> &ys);

/// One batch of a data source: inputs, targets, per-sample loss weights.
struct Batch {
  std::vector<Array> x, y;
  Array w;
  int64_t rows = 0;
};

/// Where fit / evaluate take their batches from: arrays (sliced in a shuffled order) or a
/// utils::Sequence. `beginEpoch` draws the epoch's order; `endEpoch` is the Sequence's
/// on_epoch_end.
struct BatchSource {
  int64_t steps = 0, samples = 0, batchSize = 0;
  std::function<void()> beginEpoch, endEpoch;
  std::function<Batch(int64_t step)> get;
};

/// Batches of rows [0, n) of xs / ys / sw in `idx`'s order, reshuffled per epoch when
/// `shuffle` and `rng` is given. The arrays and `idx` must outlive the source.
BatchSource arraySource(const std::vector<Array> &xs, const std::vector<Array> &ys,
                        const Array &sw, int64_t n, int64_t batch, bool shuffle,
                        std::mt19937_64 *rng, std::vector<int64_t> &idx);

using NamedValues = std::vector<std::pair<std::string, double>>;

/// evaluate: the user's callbacks and a ProgbarLogger when verbose, over `src`; returns the
/// loss then the metrics, by name. `self` is what the callbacks see as their model.
NamedValues evaluateWithCallbacks(Model *self, FitModel &m, BatchSource &src, int verbose,
                                  const std::vector<std::shared_ptr<Callback>> &user);

/// Keras' fit loop over `src`, validating on `validation` (if any) at each epoch's end.
History fitLoop(Model *self, FitModel &m, BatchSource &src, BatchSource *validation,
                const FitOptions &options);

/// fit over arrays: the checks, validation_split, sample and class weights, the shuffled
/// batches, then fitLoop.
History fitArrays(Model *self, FitModel &m, const std::vector<Array> &x,
                  const std::vector<Array> &y, const FitOptions &options);

} // namespace kiln::detail

#endif // KILN_RUNTIME_FITLOOP_H
