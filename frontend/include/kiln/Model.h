//===- Model.h - Keras' Model and Sequential: summary, weights, predict ----===//
#ifndef KILN_MODEL_H
#define KILN_MODEL_H

#include "kiln/Array.h"
#include "kiln/Layers.h"
#include "kiln/Training.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace kiln {

namespace detail {
struct ModelImpl;
} // namespace detail
namespace utils {
class Sequence;
} // namespace utils

struct ModelOptions {
  std::string name;
};

struct PredictOptions {
  /// Samples per call of the compiled code (Keras' default is 32).
  int64_t batch_size = 32;
  /// Threads that share each batch; 0: KILN_NUM_THREADS, else the machine's cores.
  int threads = 0;
  /// 0 silent (kiln's default: predict is often called in a loop), 1 progress bar, 2 a line.
  int verbose = 0;
  /// on_predict_begin, on_predict_batch_begin/end per batch, on_predict_end.
  std::vector<std::shared_ptr<Callback>> callbacks;
};

/// A model from inputs to outputs (Keras' functional Model). Copies share one model.
class Model {
public:
  Model(const Tensor &input, const Tensor &output, ModelOptions options = {});
  Model(std::vector<Tensor> inputs, std::vector<Tensor> outputs, ModelOptions options = {});
  Model(std::vector<Tensor> inputs, const Tensor &output, ModelOptions options = {})
      : Model(std::move(inputs), std::vector<Tensor>{output}, std::move(options)) {}
  Model(const Tensor &input, std::vector<Tensor> outputs, ModelOptions options = {})
      : Model(std::vector<Tensor>{input}, std::move(outputs), std::move(options)) {}

  const std::string &name() const;
  std::vector<Tensor> inputs() const;
  std::vector<Tensor> outputs() const;
  /// Layers in Keras' order (by depth from the inputs, then by call order).
  std::vector<Layer> layers() const;
  Layer get_layer(const std::string &name) const;

  /// Prints Keras' summary table to stdout (or `os`).
  void summary() const;
  void summary(std::ostream &os) const;
  std::string summary_string() const;

  int64_t count_params() const;
  /// Every layer's weights in Keras' `get_weights()` order.
  std::vector<Array> get_weights() const;
  void set_weights(const std::vector<Array> &weights);

  /// Keras' model config as JSON text (`model.to_json()`), Keras 3 spelling unless `keras2`
  /// (tf.keras 2.x: `batch_input_shape`, `[[["dense", 0, 0, {}]]]` inbound nodes). `indent` < 0:
  /// one line. See kiln/Saving.h.
  std::string to_json(int indent = -1, bool keras2 = false) const;
  /// Writes the whole model, compiled state and optimizer state included, through a temporary
  /// file renamed over `path`: a `.keras` path gets a Keras 3 archive (config.json,
  /// metadata.json, model.weights.h5 in Keras 3's layout), any other Keras' full-model HDF5
  /// file (`model_config`, `model_weights/...`). Throws kiln::Error naming the file.
  void save(const std::string &path) const;
  /// Writes Keras' weights-only HDF5 layout (save_weights), atomically as save().
  void save_weights(const std::string &path) const;
  /// Reads weights from a weights-only or full-model HDF5 file (or a Keras 3 .weights.h5),
  /// matched by layer name, else by position as Keras does; every shape is checked before any
  /// weight changes.
  void load_weights(const std::string &path);

  /// The model as kiln-dialect MLIR (`func.func @predict`, see docs/Design.md).
  std::string mlir() const;

  /// Runs the model on `x` (batch first), compiled to native code on first use.
  Array predict(const Array &x, PredictOptions options = {}) const;
  /// For several inputs (in the model's input order) or several outputs.
  std::vector<Array> predict(const std::vector<Array> &xs, PredictOptions options = {}) const;
  /// The predictions for a utils::Sequence's batches (their x), in order, concatenated.
  Array predict(utils::Sequence &sequence, PredictOptions options = {}) const;

  /// Chooses the loss, optimizer and metrics for fit and evaluate (Keras' compile).
  void compile(CompileOptions options);
  /// Where predict runs: "cpu" or "gpu" (NVIDIA; throws kiln::Error naming the model if no
  /// usable GPU is here). compile()'s `device` sets it too; this is for predicting without a
  /// loss or optimizer (kilnc predict --device gpu).
  void set_device(const std::string &device);
  /// Trains on (x, y): one optimizer step per batch, compiled to native code.
  History fit(const Array &x, const Array &y, FitOptions options = {});
  History fit(const std::vector<Array> &x, const std::vector<Array> &y, FitOptions options = {});
  /// Trains on the batches of a utils::Sequence (Keras' fit on a keras.utils.Sequence): each
  /// epoch reads its size() batches, in a new order when options.shuffle, then calls its
  /// on_epoch_end(). batch_size, validation_split, sample_weight and class_weight do not apply;
  /// validation_x / validation_y do.
  History fit(utils::Sequence &sequence, FitOptions options = {});
  /// The loss, then each metric, over (x, y) in inference mode.
  std::vector<double> evaluate(const Array &x, const Array &y, EvaluateOptions options = {});
  /// The loss and metrics over a utils::Sequence's batches, in order.
  std::vector<double> evaluate(utils::Sequence &sequence, EvaluateOptions options = {});
  std::vector<double> evaluate(const std::vector<Array> &x, const std::vector<Array> &y,
                               EvaluateOptions options = {});
  /// evaluate as a fixed-size array: `auto [loss, acc] = model.evaluate<2>(x, y);`.
  template <size_t N>
  std::array<double, N> evaluate(const Array &x, const Array &y, EvaluateOptions options = {}) {
    std::vector<double> v = evaluate(x, y, options);
    checkScoreCount(v.size(), N);
    std::array<double, N> out;
    std::copy(v.begin(), v.end(), out.begin());
    return out;
  }
  /// One optimizer step on one batch; returns the loss and the metrics on it.
  std::vector<double> train_on_batch(const Array &x, const Array &y);
  std::vector<double> test_on_batch(const Array &x, const Array &y);
  Array predict_on_batch(const Array &x) { return predict(x, {.batch_size = x.shape.empty() ? 1 : std::max<int64_t>(1, x.shape[0])}); }
  /// "loss", then the metrics' names, as evaluate and the History use them.
  std::vector<std::string> metrics_names() const;
  /// The compiled optimizer (its learning_rate may be changed between steps, as Keras'
  /// ReduceLROnPlateau does); throws before compile().
  optimizers::Optimizer &optimizer();
  /// Set by a callback to end fit after the current batch.
  void stop_training(bool stop);
  bool stop_training() const;
  /// Optimizer steps taken so far (Keras' optimizer.iterations).
  int64_t iterations() const;

  std::shared_ptr<detail::ModelImpl> impl;

protected:
  void checkScoreCount(size_t got, size_t want) const;
  explicit Model(std::shared_ptr<detail::ModelImpl> impl) : impl(std::move(impl)) {}
  /// Builds the graph if a Sequential has not yet; throws if it cannot.
  void ensureBuilt() const;
};

/// A linear stack of layers. Start it with kiln::Input(shape) to build it at once; otherwise
/// it is built on the first predict, from the data's shape.
class Sequential : public Model {
public:
  /// An element of the initializer list: a layer, or a kiln::Input as the first element.
  struct Item {
    Item(const Layer &layer) : layer(layer), isInput(false) {}
    Item(const Tensor &input) : input(input), isInput(true) {}
    std::optional<Layer> layer;
    Tensor input;
    bool isInput;
  };

  explicit Sequential(ModelOptions options = {});
  Sequential(std::initializer_list<Item> items, ModelOptions options = {});

  void add(const Layer &layer);
  void add(const Tensor &input);
};

} // namespace kiln

#endif // KILN_MODEL_H
