//===- Training.cpp - compile, fit, evaluate on a kiln::Model --------------===//
//
// compile() resolves the loss, optimizer and metrics; the first fit / evaluate compiles
// @grad_step, @apply_step and @eval_step through the JIT. The loop around them (batching,
// metrics, callbacks, the progress bar) is the runtime's (runtime/train/FitLoop.cpp), which
// the standalone trainer runs too.
//
//===----------------------------------------------------------------------===//
#include "Train.h"
#include "kiln_gpu.h"

#include "kiln/Callbacks.h"
#include "kiln/Sequence.h"

#include "llvm/Support/raw_ostream.h"
#include "mlir/IR/Diagnostics.h"

#include <cmath>
#include <cstdio>
#include <map>
#include <numeric>
#include <random>
#include <set>

namespace kiln {
namespace detail {

std::string lower(std::string s); // runtime/train/Optimizers.cpp

void ModelImpl::ensureSteps(const std::vector<Shape> &targets) {
  ModelImpl &m = *this;
  Training &t = requireTraining("fit()");
  std::vector<Weight *> all = m.allWeights();
  bool changed = all.size() != t.trainableAtCompile.size();
  for (size_t i = 0; !changed && i < all.size(); ++i)
    changed = all[i]->trainable != t.trainableAtCompile[i];
  if (changed)
    throw Error(m.name, "a layer's trainable flag changed after compile(); call compile() "
                        "again so that the change takes effect (as Keras requires)");
  if (t.gradStep && t.targetShapes == targets)
    return;
  t.targetShapes = targets;
  auto c = std::make_shared<Compiled>();
  c->context = newContext();
  std::string diagnostics;
  llvm::raw_string_ostream os(diagnostics);
  mlir::ScopedDiagnosticHandler handler(c->context.get(), [&](mlir::Diagnostic &d) {
    os << "\n  " << d;
    return mlir::success();
  });
  auto module = emitTraining(m, t, *c->context);
  compileModule(*c, *module, m.name, m.gpu, diagnostics);
  if (!c->gradStep || !c->applyStep || !c->evalStep)
    throw Error(m.name, "the compiled training code lacks its entry points");
  t.gradStep = c->gradStep, t.applyStep = c->applyStep, t.evalStep = c->evalStep;
  t.stepsOwner = c;
}


std::vector<std::pair<std::string, Shape>> ModelImpl::inputSpecs() const {
  std::vector<std::pair<std::string, Shape>> out;
  for (const auto &t : inputs)
    out.emplace_back(t->layer->name, t->shape);
  return out;
}

std::vector<std::pair<std::string, Shape>> ModelImpl::outputSpecs() const {
  std::vector<std::pair<std::string, Shape>> out;
  for (const auto &t : outputs)
    out.emplace_back(t->layer->name, t->shape);
  return out;
}

void ModelImpl::checkDevice() { checkGpu(name); }

void ModelImpl::keepResident(const std::vector<std::pair<void *, size_t>> &buffers) {
  for (const auto &[host, bytes] : buffers)
    kiln_gpu_resident_add(host, bytes);
}

void ModelImpl::syncResident() {
  if (!gpu)
    return;
  kiln_gpu_resident_sync();
  checkGpu(name);
}

// Runs from ResidentScope's destructor, possibly while an exception unwinds: the failure stays
// recorded for the next checkDevice().
void ModelImpl::clearResident() {
  if (gpu)
    kiln_gpu_resident_clear();
}

namespace {
/// A kiln::Model over this ModelImpl that does not own it (the callbacks' view of the model
/// goes through the Model API, which does the checks and bookkeeping).
struct Handle : Model {
  explicit Handle(std::shared_ptr<ModelImpl> impl) : Model(std::move(impl)) {}
};
Model handle(const ModelImpl &m) {
  return Handle(std::shared_ptr<ModelImpl>(std::shared_ptr<ModelImpl>(),
                                           const_cast<ModelImpl *>(&m)));
}
} // namespace

std::vector<Array> ModelImpl::get_weights() const { return handle(*this).get_weights(); }
void ModelImpl::set_weights(const std::vector<Array> &w) { handle(*this).set_weights(w); }
void ModelImpl::save(const std::string &path) const { handle(*this).save(path); }
void ModelImpl::save_weights(const std::string &path) const {
  handle(*this).save_weights(path);
}
void ModelImpl::load_weights(const std::string &path) { handle(*this).load_weights(path); }

namespace {
// Callbacks that users hand a kiln::Model reach its ModelImpl through this.
const bool registered = [] {
  fitModelOf = [](Model *model) -> FitModel * { return model->impl.get(); };
  return true;
}();

Training &requireCompiled(const ModelImpl &m, const char *what) {
  return m.requireTraining(what);
}

/// A batch of a utils::Sequence, checked against the model like fit's arrays.
Batch sequenceBatch(ModelImpl &m, Training &t, utils::Sequence &seq, int64_t index,
                    const char *what) {
  auto [x, y] = seq.get(index);
  Batch b;
  b.x.push_back(std::move(x));
  b.y.push_back(std::move(y));
  std::string where = std::string(what) + " (Sequence batch " + std::to_string(index) + ")";
  b.rows = checkData(m, t, b.x, b.y, where.c_str());
  b.w = Array({b.rows});
  std::fill(b.w.data.begin(), b.w.data.end(), 1.0f);
  return b;
}

} // namespace
} // namespace detail

using namespace detail;

//===----------------------------------------------------------------------===//
// Model's training API.
//===----------------------------------------------------------------------===//

void Model::compile(CompileOptions options) {
  ensureBuilt();
  if (options.loss.name.empty())
    throw Error(impl->name, "compile() needs a loss, e.g. .loss = \"categorical_crossentropy\"");
  auto t = std::make_shared<Training>();
  t->optimizer = options.optimizer;
  for (size_t o = 0; o < impl->outputs.size(); ++o)
    t->losses.push_back({options.loss.name, options.loss.from_logits, options.loss.delta});
  const std::string &lossName = options.loss.name;
  for (const metrics::Metric &metric : options.metrics) {
    if (!metric.kind.empty()) { // an object: AUC(...), MeanIoU(...)
      if (metric.kind == "mean_io_u" && metric.sparse_y_pred &&
          impl->outputs[0]->shape.back() > 1 && impl->outputs[0]->shape.size() == 2)
        std::fprintf(stderr, "kiln: warning: MeanIoU with sparse_y_pred=true casts the %lld "
                             "scores of each output row to class ids; pass sparse_y_pred = "
                             "false to take their argmax\n",
                     static_cast<long long>(impl->outputs[0]->shape.back()));
      t->metrics.push_back({metric.name, metric.kind, metric});
      continue;
    }
    const std::string &name = metric.name;
    std::string k = lower(name);
    if (k == "auc") { // Keras instantiates AUC() for the name: shown as "auc"
      metrics::Metric m = metrics::AUC();
      t->metrics.push_back({m.name, m.kind, m});
      continue;
    }
    static const std::map<std::string, std::string> aliases = {
        {"mse", "mean_squared_error"},
        {"mae", "mean_absolute_error"},
        {"top_k_categorical_accuracy", "top_k_categorical_accuracy"},
        {"sparse_top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy"}};
    if (auto it = aliases.find(k); it != aliases.end())
      k = it->second;
    if (k == "accuracy" || k == "acc") {
      // Keras' choice: binary for one output unit or binary_crossentropy; sparse for sparse
      // labels; categorical otherwise.
      int64_t units = impl->outputs[0]->shape.back();
      if (lossName == "binary_crossentropy" || units == 1)
        k = "binary_accuracy";
      else if (lossName == "sparse_categorical_crossentropy")
        k = "sparse_categorical_accuracy";
      else
        k = "categorical_accuracy";
    }
    static const std::set<std::string> known = {
        "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
        "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy",
        "mean_squared_error", "mean_absolute_error", "cosine_similarity", "precision",
        "recall"};
    if (!known.count(k))
      throw Error(impl->name, "unknown metric '" + name +
                                  "' (kiln has accuracy, binary_accuracy, categorical_accuracy, "
                                  "sparse_categorical_accuracy, top_k_categorical_accuracy, "
                                  "sparse_top_k_categorical_accuracy, mse, mae, "
                                  "cosine_similarity, precision, recall, auc; MeanIoU as "
                                  "kiln::metrics::MeanIoU(num_classes))");
    t->metrics.push_back({name, k, std::nullopt});
  }
  for (Weight *w : impl->allWeights())
    t->trainableAtCompile.push_back(w->trainable);
  initSlots(*t, impl->allWeights());
  set_device(options.device);
  impl->training = t;
}

void Model::set_device(const std::string &device) {
  if (device != "cpu" && device != "gpu")
    throw Error(impl->name, "unknown device '" + device + "' (kiln has \"cpu\" and \"gpu\")");
  bool gpu = device == "gpu";
  if (gpu && kiln_gpu_init() != KILN_GPU_OK)
    throw Error(impl->name, std::string("device \"gpu\": no usable GPU: ") +
                                kiln_gpu_error_message());
  if (gpu != impl->gpu) {
    impl->gpu = gpu;
    impl->compiled.reset(); // predict's code was compiled for the other device
  }
}

std::vector<std::string> Model::metrics_names() const { return impl->metrics_names(); }

optimizers::Optimizer &Model::optimizer() {
  return requireCompiled(*impl, "optimizer()").optimizer;
}
void Model::stop_training(bool stop) { impl->stopTraining = stop; }
bool Model::stop_training() const { return impl->stopTraining; }
int64_t Model::iterations() const {
  return impl->training ? impl->training->iterations : 0;
}

void Model::checkScoreCount(size_t got, size_t want) const {
  if (got != want)
    throw Error(impl->name, "evaluate<" + std::to_string(want) + "> asked for " +
                                std::to_string(want) + " values, the model reports " +
                                std::to_string(got) + " (the loss and each metric)");
}

History Model::fit(const Array &x, const Array &y, FitOptions options) {
  return fit(std::vector<Array>{x}, std::vector<Array>{y}, std::move(options));
}

History Model::fit(const std::vector<Array> &xAll, const std::vector<Array> &yAll,
                   FitOptions options) {
  return fitArrays(this, *impl, xAll, yAll, options);
}

History Model::fit(utils::Sequence &sequence, FitOptions options) {
  ModelImpl &m = *impl;
  Training &t = requireCompiled(m, "fit()");
  if (m.inputs.size() != 1 || m.outputs.size() != 1)
    throw Error(m.name, "fit over a utils::Sequence takes one input and one output; the model "
                        "has " + std::to_string(m.inputs.size()) + " and " +
                        std::to_string(m.outputs.size()));
  if (options.validation_split > 0)
    throw Error(m.name, "validation_split is not supported with a utils::Sequence (as in "
                        "Keras); pass validation_x / validation_y");
  if (options.sample_weight || !options.class_weight.empty())
    throw Error(m.name, "sample_weight and class_weight are not supported with a "
                        "utils::Sequence");
  bool validate = !options.validation_x.empty();
  int64_t nv = validate ? checkData(m, t, options.validation_x, options.validation_y,
                                    "fit (validation data)")
                        : 0;
  std::mt19937_64 rng(options.seed ? *options.seed : std::random_device{}());
  BatchSource src;
  src.steps = sequence.size();
  if (src.steps <= 0)
    throw Error(m.name, "fit got a utils::Sequence with no batches");
  // Keras' PyDataset adapter: with shuffle, the batches are read in a new order each epoch.
  std::vector<int64_t> order(src.steps);
  src.beginEpoch = [&] {
    std::iota(order.begin(), order.end(), 0);
    if (options.shuffle)
      std::shuffle(order.begin(), order.end(), rng);
  };
  src.get = [&](int64_t s) { return sequenceBatch(m, t, sequence, order[s], "fit"); };
  src.endEpoch = [&] { sequence.on_epoch_end(); };
  std::vector<int64_t> vidx;
  Array vw({nv});
  std::fill(vw.data.begin(), vw.data.end(), 1.0f);
  BatchSource vsrc = arraySource(options.validation_x, options.validation_y, vw, nv,
                                 options.batch_size > 0 ? options.batch_size : 32, false,
                                 nullptr, vidx);
  return fitLoop(this, m, src, validate ? &vsrc : nullptr, options);
}

std::vector<double> Model::evaluate(const Array &x, const Array &y, EvaluateOptions options) {
  return evaluate(std::vector<Array>{x}, std::vector<Array>{y}, std::move(options));
}

namespace {
std::vector<double> valuesOf(const std::vector<std::pair<std::string, double>> &logs) {
  std::vector<double> out;
  for (const auto &[k, v] : logs)
    out.push_back(v);
  return out;
}
} // namespace

std::vector<double> Model::evaluate(const std::vector<Array> &x, const std::vector<Array> &y,
                                    EvaluateOptions options) {
  ModelImpl &m = *impl;
  Training &t = requireCompiled(m, "evaluate()");
  if (options.batch_size <= 0)
    throw Error(m.name, "batch_size must be positive");
  int64_t n = checkData(m, t, x, y, "evaluate");
  Array sw({n});
  std::fill(sw.data.begin(), sw.data.end(), 1.0f);
  if (options.sample_weight) {
    if (options.sample_weight->rank() != 1 || options.sample_weight->shape[0] != n)
      throw Error(m.name, "sample_weight must have shape (" + std::to_string(n) + ",), got " +
                              shapeString(options.sample_weight->shape));
    sw = *options.sample_weight;
  }
  m.ensureSteps(targetShapesOf(y));
  std::vector<int64_t> idx;
  BatchSource src = arraySource(x, y, sw, n, options.batch_size, false, nullptr, idx);
  return valuesOf(evaluateWithCallbacks(this, m, src, options.verbose, options.callbacks));
}

std::vector<double> Model::evaluate(utils::Sequence &sequence, EvaluateOptions options) {
  ModelImpl &m = *impl;
  Training &t = requireCompiled(m, "evaluate()");
  if (m.inputs.size() != 1 || m.outputs.size() != 1)
    throw Error(m.name, "evaluate over a utils::Sequence takes one input and one output");
  BatchSource src;
  src.steps = sequence.size();
  src.get = [&](int64_t s) { return sequenceBatch(m, t, sequence, s, "evaluate"); };
  return valuesOf(evaluateWithCallbacks(this, m, src, options.verbose, options.callbacks));
}

std::vector<double> Model::train_on_batch(const Array &x, const Array &y) {
  History h = fit(x, y, {.batch_size = std::max<int64_t>(1, x.shape.empty() ? 1 : x.shape[0]),
                         .epochs = 1, .verbose = 0, .shuffle = false});
  std::vector<double> out;
  for (const std::string &n : metrics_names())
    out.push_back(h.history.at(n).back());
  return out;
}

std::vector<double> Model::test_on_batch(const Array &x, const Array &y) {
  return evaluate(x, y, {.batch_size = std::max<int64_t>(1, x.shape.empty() ? 1 : x.shape[0])});
}

} // namespace kiln

