//===- Callbacks.h - Keras' built-in callbacks for fit / evaluate / predict -===//
#ifndef KILN_CALLBACKS_H
#define KILN_CALLBACKS_H

#include "kiln/Training.h"

#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace kiln::callbacks {

//===----------------------------------------------------------------------===//
// BaseLogger, ProgbarLogger
//===----------------------------------------------------------------------===//

/// Accumulates epoch averages of what callbacks log per batch (Keras 2's BaseLogger): each key
/// of the batch logs is averaged over the epoch's batches weighted by their sample counts, or
/// kept as last logged if it is in stateful_metrics, and put into the epoch's logs at
/// on_epoch_end. kiln's own loss and metrics are already running epoch means in the batch logs,
/// so they count as stateful (as tf.keras counts model.metrics) and keep fit's epoch values.
class BaseLogger : public Callback {
public:
  explicit BaseLogger(std::vector<std::string> stateful_metrics = {});
  void on_epoch_begin(int epoch, Logs &logs) override;
  void on_train_batch_end(int64_t batch, Logs &logs) override;
  void on_epoch_end(int epoch, Logs &logs) override;

  std::vector<std::string> stateful_metrics;
  int64_t seen = 0;
  Logs totals;
};

/// Prints Keras' progress bar (Keras 2's ProgbarLogger): "Epoch 2/5" when there are several
/// epochs, then per epoch "12/12 [======] - 1s 80ms/step - loss: 0.1234 - val_loss: ..."
/// (verbose 1; redrawn in place per batch when the stream is a terminal) or "12/12 - 1s - loss:
/// ... - 1s/epoch - 80ms/step" (verbose 2). count_mode "steps" counts batches, "samples"
/// counts samples (units "ms/sample"). Keys in stateful_metrics and kiln's own loss and
/// metrics show as logged; other keys that callbacks add to batch logs show as their average
/// over the epoch, weighted as the counter advances. fit adds ProgbarLogger("steps") when
/// verbose > 0 and the callbacks hold none; evaluate and predict do too.
class ProgbarLogger : public Callback {
public:
  explicit ProgbarLogger(std::string count_mode = "samples",
                         std::vector<std::string> stateful_metrics = {});
  void on_train_begin(Logs &logs) override;
  void on_train_end(Logs &logs) override;
  void on_epoch_begin(int epoch, Logs &logs) override;
  void on_train_batch_end(int64_t batch, Logs &logs) override;
  void on_epoch_end(int epoch, Logs &logs) override;
  void on_test_begin(Logs &logs) override;
  void on_test_batch_end(int64_t batch, Logs &logs) override;
  void on_test_end(Logs &logs) override;
  void on_predict_begin(Logs &logs) override;
  void on_predict_batch_end(int64_t batch, Logs &logs) override;
  void on_predict_end(Logs &logs) override;

  std::string count_mode;
  std::vector<std::string> stateful_metrics;
  /// Where the bar goes.
  std::FILE *stream = stdout;

private:
  void reset();
  void update(int64_t batch, const Logs &logs);
  void finish(const Logs &logs);
  std::vector<std::pair<std::string, double>> ordered(const Logs &logs) const;
  std::string bar(int64_t current) const;
  std::string counter(int64_t current) const;
  bool inFit_ = false, dynamic_ = false, active_ = false;
  int64_t target_ = 0, seen_ = 0;
  std::map<std::string, std::pair<double, double>> averages_; // key: (sum, weight)
  std::map<std::string, double> last_;
  double start_ = 0, lastPrint_ = -1;
};

//===----------------------------------------------------------------------===//
// EarlyStopping
//===----------------------------------------------------------------------===//

struct EarlyStoppingOptions {
  std::string monitor = "val_loss";
  double min_delta = 0.0;
  int patience = 0;
  int verbose = 0;
  /// "auto" (loss and error metrics: min; accuracy-like metrics: max), "min" or "max".
  std::string mode = "auto";
  std::optional<double> baseline;
  bool restore_best_weights = false;
  int start_from_epoch = 0;
};

/// Stops fit when `monitor` has not improved by more than min_delta for `patience` epochs
/// (Keras 3's EarlyStopping, including its baseline and restore_best_weights rules).
class EarlyStopping : public Callback {
public:
  explicit EarlyStopping(EarlyStoppingOptions options = {});
  void on_train_begin(Logs &logs) override;
  void on_epoch_end(int epoch, Logs &logs) override;
  void on_train_end(Logs &logs) override;

  EarlyStoppingOptions options;
  int wait = 0;
  /// The epoch (0-based) at which training was stopped; 0 if it was not.
  int stopped_epoch = 0;
  int best_epoch = 0;
  std::optional<double> best;

private:
  bool isImprovement(double value, std::optional<double> reference) const;
  bool maximize_ = false;
  bool modeSet_ = false;
  std::optional<std::vector<Array>> bestWeights_;
};

//===----------------------------------------------------------------------===//
// ReduceLROnPlateau
//===----------------------------------------------------------------------===//

struct ReduceLROnPlateauOptions {
  std::string monitor = "val_loss";
  double factor = 0.1;
  int patience = 10;
  int verbose = 0;
  std::string mode = "auto";
  double min_delta = 1e-4;
  int cooldown = 0;
  double min_lr = 0.0;
};

/// Multiplies the learning rate by `factor` after `patience` epochs without improvement, then
/// waits `cooldown` epochs; adds "learning_rate" to each epoch's logs (Keras'
/// ReduceLROnPlateau).
class ReduceLROnPlateau : public Callback {
public:
  explicit ReduceLROnPlateau(ReduceLROnPlateauOptions options = {});
  void on_train_begin(Logs &logs) override;
  void on_epoch_end(int epoch, Logs &logs) override;

  ReduceLROnPlateauOptions options;
  int wait = 0, cooldown_counter = 0;
  double best = 0;

private:
  void reset();
  bool improved(double current) const;
  bool maximize_ = false;
};

//===----------------------------------------------------------------------===//
// LearningRateScheduler
//===----------------------------------------------------------------------===//

/// Sets the learning rate at each epoch's start to schedule(epoch, current learning rate);
/// adds "learning_rate" to each epoch's logs (Keras' LearningRateScheduler).
class LearningRateScheduler : public Callback {
public:
  using Schedule = std::function<double(int epoch, double learning_rate)>;
  explicit LearningRateScheduler(Schedule schedule, int verbose = 0);
  void on_epoch_begin(int epoch, Logs &logs) override;
  void on_epoch_end(int epoch, Logs &logs) override;

  Schedule schedule;
  int verbose;
};

//===----------------------------------------------------------------------===//
// CSVLogger
//===----------------------------------------------------------------------===//

/// Writes one row per epoch: "epoch", then the logs' keys sorted (with val_ columns added when
/// the first epoch has none), values as Python's repr, "NA" where a key is missing, rows ended
/// by "\r\n" as Python's csv module ends them (Keras' CSVLogger).
class CSVLogger : public Callback {
public:
  explicit CSVLogger(std::string filename, std::string separator = ",", bool append = false);
  ~CSVLogger() override;
  void on_train_begin(Logs &logs) override;
  void on_epoch_end(int epoch, Logs &logs) override;
  void on_train_end(Logs &logs) override;

  std::string filename, separator;
  bool append;

private:
  std::FILE *file_ = nullptr;
  bool appendHeader_ = true;
  std::optional<std::vector<std::string>> keys_;
};

//===----------------------------------------------------------------------===//
// TerminateOnNaN
//===----------------------------------------------------------------------===//

/// Stops fit when a batch's loss is NaN or infinite, printing "Batch N: Invalid loss,
/// terminating training" (Keras' TerminateOnNaN); fit then returns its History. Without one in
/// the callbacks, fit throws kiln::Error for such a loss instead.
class TerminateOnNaN : public Callback {
public:
  void on_train_batch_end(int64_t batch, Logs &logs) override;
};

//===----------------------------------------------------------------------===//
// LambdaCallback
//===----------------------------------------------------------------------===//

/// A callback made of callables, one per hook; unset hooks do nothing (Keras' LambdaCallback).
struct LambdaCallbackOptions {
  std::function<void(Logs &)> on_train_begin, on_train_end;
  std::function<void(int, Logs &)> on_epoch_begin, on_epoch_end;
  std::function<void(int64_t, Logs &)> on_train_batch_begin, on_train_batch_end;
  std::function<void(Logs &)> on_test_begin, on_test_end;
  std::function<void(int64_t, Logs &)> on_test_batch_begin, on_test_batch_end;
  std::function<void(Logs &)> on_predict_begin, on_predict_end;
  std::function<void(int64_t, Logs &)> on_predict_batch_begin, on_predict_batch_end;
};

class LambdaCallback : public Callback {
public:
  explicit LambdaCallback(LambdaCallbackOptions options) : f(std::move(options)) {}
  void on_train_begin(Logs &l) override { call(f.on_train_begin, l); }
  void on_train_end(Logs &l) override { call(f.on_train_end, l); }
  void on_epoch_begin(int e, Logs &l) override { call(f.on_epoch_begin, e, l); }
  void on_epoch_end(int e, Logs &l) override { call(f.on_epoch_end, e, l); }
  void on_train_batch_begin(int64_t b, Logs &l) override { call(f.on_train_batch_begin, b, l); }
  void on_train_batch_end(int64_t b, Logs &l) override { call(f.on_train_batch_end, b, l); }
  void on_test_begin(Logs &l) override { call(f.on_test_begin, l); }
  void on_test_end(Logs &l) override { call(f.on_test_end, l); }
  void on_test_batch_begin(int64_t b, Logs &l) override { call(f.on_test_batch_begin, b, l); }
  void on_test_batch_end(int64_t b, Logs &l) override { call(f.on_test_batch_end, b, l); }
  void on_predict_begin(Logs &l) override { call(f.on_predict_begin, l); }
  void on_predict_end(Logs &l) override { call(f.on_predict_end, l); }
  void on_predict_batch_begin(int64_t b, Logs &l) override {
    call(f.on_predict_batch_begin, b, l);
  }
  void on_predict_batch_end(int64_t b, Logs &l) override { call(f.on_predict_batch_end, b, l); }

  LambdaCallbackOptions f;

private:
  template <typename F, typename... A> static void call(const F &fn, A &&...a) {
    if (fn)
      fn(std::forward<A>(a)...);
  }
};

//===----------------------------------------------------------------------===//
// ModelCheckpoint
//===----------------------------------------------------------------------===//

struct ModelCheckpointOptions {
  std::string monitor = "val_loss";
  int verbose = 0;
  bool save_best_only = false;
  /// model.save_weights (the path must end in .h5) instead of model.save (.h5 too: kiln writes
  /// Keras' HDF5 formats, not .keras archives).
  bool save_weights_only = false;
  std::string mode = "auto";
  std::optional<double> initial_value_threshold;
};

/// Saves the model (or its weights) at each epoch's end to `filepath` formatted with Python's
/// str.format rules over epoch (1-based) and the logs: "w.{epoch:02d}-{val_loss:.2f}.h5". With
/// save_best_only, only when `monitor` improved (Keras' ModelCheckpoint, save_freq "epoch").
class ModelCheckpoint : public Callback {
public:
  explicit ModelCheckpoint(std::string filepath, ModelCheckpointOptions options = {});
  void on_epoch_end(int epoch, Logs &logs) override;

  std::string filepath;
  ModelCheckpointOptions options;
  double best;

private:
  bool maximize_ = false;
};

/// `pattern` with each {name} or {name:spec} replaced by Python's format of `values[name]`
/// (spec: [[fill]align][sign][0][width][,][.precision][type], types d f F e E g G %); an
/// integral value without a spec prints as an int when `integers` names it. Throws kiln::Error
/// for a name that is not in `values`.
std::string format_filepath(const std::string &pattern, const std::map<std::string, double> &values,
                            const std::vector<std::string> &integers = {"epoch", "batch"});

/// Python's repr of a float: the shortest digits that read back, "1e-05", "0.5", "3.0", "nan".
std::string python_float_repr(double v);

//===----------------------------------------------------------------------===//
// BackupAndRestore
//===----------------------------------------------------------------------===//

/// Saves the weights, the optimizer's state and the epoch reached to `backup_dir` at each
/// epoch's end; a later fit with the same backup_dir restores them and resumes at that epoch.
/// The directory is deleted when fit completes, if delete_checkpoint (Keras'
/// BackupAndRestore, save_freq "epoch").
class BackupAndRestore : public Callback {
public:
  explicit BackupAndRestore(std::string backup_dir, bool delete_checkpoint = true);
  void on_train_begin(Logs &logs) override;
  void on_epoch_end(int epoch, Logs &logs) override;
  void on_train_end(Logs &logs) override;
  int resume_epoch() override { return resumeEpoch_; }

  std::string backup_dir;
  bool delete_checkpoint;

private:
  int resumeEpoch_ = -1;
};

//===----------------------------------------------------------------------===//
// RemoteMonitor
//===----------------------------------------------------------------------===//

struct RemoteMonitorOptions {
  /// http://host[:port] (plain HTTP; https is not supported).
  std::string root = "http://localhost:9000";
  std::string path = "/publish/epoch/end/";
  /// The form field holding the JSON when !send_as_json.
  std::string field = "data";
  std::map<std::string, std::string> headers;
  /// true: the body is the JSON itself (application/json); false: a form with field=JSON.
  bool send_as_json = false;
};

/// POSTs {"epoch": e, <logs>...} to root + path at each epoch's end; an unreachable server is
/// a warning on stderr, as in Keras' RemoteMonitor.
class RemoteMonitor : public Callback {
public:
  explicit RemoteMonitor(RemoteMonitorOptions options = {});
  void on_epoch_end(int epoch, Logs &logs) override;

  RemoteMonitorOptions options;
};

//===----------------------------------------------------------------------===//
// TensorBoard
//===----------------------------------------------------------------------===//

struct TensorBoardOptions {
  std::string log_dir = "logs";
};

/// Writes TensorBoard event files: log_dir/train and log_dir/validation, each with the scalars
/// "epoch_<name>" per epoch (val_ names go to validation without the prefix) and
/// epoch_learning_rate, as Keras' TensorBoard does with update_freq "epoch". Records use
/// TFRecord framing (length, masked CRC32C, data, masked CRC32C); the Event protos are encoded
/// by hand.
class TensorBoard : public Callback {
public:
  explicit TensorBoard(TensorBoardOptions options = {});
  ~TensorBoard() override;
  void on_train_begin(Logs &logs) override;
  void on_epoch_end(int epoch, Logs &logs) override;
  void on_train_end(Logs &logs) override;

  TensorBoardOptions options;
  /// The event files written, train then validation (once opened).
  std::string train_file, validation_file;

private:
  struct Writer;
  std::unique_ptr<Writer> train_, validation_;
};

/// CRC-32C (Castagnoli), as TFRecord uses it.
uint32_t crc32c(const void *data, size_t size);
/// TFRecord's masked CRC: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
inline uint32_t masked_crc32c(const void *data, size_t size) {
  uint32_t c = crc32c(data, size);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

} // namespace kiln::callbacks

#endif // KILN_CALLBACKS_H
