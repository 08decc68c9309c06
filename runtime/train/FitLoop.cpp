//===- FitLoop.cpp - Keras' fit / evaluate loop over compiled step functions -===//
//
// The compiled @grad_step / @apply_step do the numerical work of one batch; this file is
// Keras' loop around them: batching and shuffling, validation, metrics aggregated as Keras
// aggregates them, the progress bar and the History. kiln::Model::fit (through the JIT) and
// the standalone trainer (kilnc compile --emit=exe --train) both run it.
//
//===----------------------------------------------------------------------===//
#include "kiln/FitLoop.h"

#include "kiln/Callbacks.h"
#include "kiln/Error.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <numeric>
#include <random>
#include <thread>
#include <unistd.h>

namespace kiln {
namespace detail {
namespace {


//===----------------------------------------------------------------------===//
// Metrics, aggregated over batches as Keras' MeanMetricWrapper and counting metrics do.
//===----------------------------------------------------------------------===//

int64_t argmax(const float *p, int64_t n) { return std::max_element(p, p + n) - p; }

struct MetricState {
  double sum = 0, count = 0;    // mean metrics
  double tp = 0, fp = 0, fn = 0; // precision / recall
  // AUC: per label, the weight of positive / negative targets whose prediction exceeds exactly
  // k thresholds, k in [0, num_thresholds]. MeanIoU: the confusion matrix, row = target.
  std::vector<double> pos, neg, cm;
};

/// AUC's thresholds as Keras places them: -epsilon, (i + 1) / (n - 1) for i < n - 2, 1 + epsilon.
std::vector<double> aucThresholds(int64_t n) {
  std::vector<double> t = {0.0 - 1e-7};
  for (int64_t i = 0; i < n - 2; ++i)
    t.push_back(double(i + 1) * 1.0 / double(n - 1));
  t.push_back(1.0 + 1e-7);
  return t;
}

void accumulateAUC(const metrics::Metric &o, const Array &p, const Array &y, MetricState &s) {
  int64_t labels = o.multi_label ? p.shape.back() : 1;
  int64_t buckets = o.num_thresholds + 1;
  if (s.pos.empty())
    s.pos.assign(buckets * labels, 0.0), s.neg.assign(buckets * labels, 0.0);
  if (y.size() != p.size())
    throw Error("", "AUC needs targets shaped like the predictions, got " +
                        std::to_string(y.size()) + " targets for " + std::to_string(p.size()) +
                        " predictions");
  std::vector<double> thr = aucThresholds(o.num_thresholds);
  for (int64_t i = 0; i < p.size(); ++i) {
    double v = p.data[i];
    if (o.from_logits)
      v = 1.0 / (1.0 + std::exp(-v));
    // A prediction counts as positive at threshold t when it is > t (Keras' rule).
    int64_t k = std::lower_bound(thr.begin(), thr.end(), float(v),
                                 [](double t, float x) { return float(t) < x; }) -
                thr.begin();
    int64_t label = labels > 1 ? i % labels : 0;
    // Keras' evenly-spaced path weighs a soft target y as y positive and 1 - y negative.
    s.pos[label * buckets + k] += y.data[i];
    s.neg[label * buckets + k] += 1.0 - y.data[i];
  }
}

double resultAUC(const metrics::Metric &o, const MetricState &s) {
  int64_t n = o.num_thresholds, buckets = n + 1;
  if (s.pos.empty())
    return 0.0;
  int64_t labels = int64_t(s.pos.size()) / buckets;
  auto divNoNan = [](double a, double b) { return b == 0 ? 0.0 : a / b; };
  double total = 0;
  for (int64_t l = 0; l < labels; ++l) {
    // tp[i]: positives predicted above threshold i (exceeding more than i thresholds).
    std::vector<double> tp(n), fp(n), fn(n), tn(n);
    double posAll = 0, negAll = 0;
    for (int64_t k = 0; k < buckets; ++k)
      posAll += s.pos[l * buckets + k], negAll += s.neg[l * buckets + k];
    for (int64_t i = 0; i < n; ++i) {
      double a = 0, b = 0;
      for (int64_t k = i + 1; k < buckets; ++k)
        a += s.pos[l * buckets + k], b += s.neg[l * buckets + k];
      tp[i] = a, fp[i] = b, fn[i] = posAll - a, tn[i] = negAll - b;
    }
    double auc = 0;
    if (o.curve == "PR" && o.summation_method == "interpolation") {
      // Keras' interpolate_pr_auc (Davis & Goadrich): TP and P = TP + FP linear per interval.
      for (int64_t i = 0; i + 1 < n; ++i) {
        double dtp = tp[i] - tp[i + 1];
        double pA = tp[i] + fp[i], pB = tp[i + 1] + fp[i + 1];
        double dp = pA - pB;
        double slope = divNoNan(dtp, std::max(dp, 0.0));
        double intercept = tp[i + 1] - slope * pB;
        double ratio = pA > 0 && pB > 0 ? divNoNan(pA, std::max(pB, 0.0)) : 1.0;
        auc += divNoNan(slope * (dtp + intercept * std::log(ratio)),
                        std::max(tp[i + 1] + fn[i + 1], 0.0));
      }
    } else {
      std::vector<double> x(n), yv(n);
      for (int64_t i = 0; i < n; ++i) {
        double recall = divNoNan(tp[i], tp[i] + fn[i]);
        if (o.curve == "ROC")
          x[i] = divNoNan(fp[i], fp[i] + tn[i]), yv[i] = recall;
        else
          x[i] = recall, yv[i] = divNoNan(tp[i], tp[i] + fp[i]);
      }
      for (int64_t i = 0; i + 1 < n; ++i) {
        double h = o.summation_method == "interpolation" ? (yv[i] + yv[i + 1]) / 2
                   : o.summation_method == "minoring"    ? std::min(yv[i], yv[i + 1])
                                                         : std::max(yv[i], yv[i + 1]);
        auc += (x[i] - x[i + 1]) * h;
      }
    }
    total += auc;
  }
  return total / double(labels);
}

void accumulateMeanIoU(const metrics::Metric &o, const Array &p, const Array &y, int64_t rows,
                       MetricState &s) {
  int64_t c = o.num_classes;
  if (s.cm.empty())
    s.cm.assign(c * c, 0.0);
  // Class ids per position: a cast to int (Keras casts toward zero), or the argmax along the
  // last axis of a dense encoding.
  auto ids = [&](const Array &a, bool sparse, const char *what) {
    std::vector<int64_t> out;
    if (sparse) {
      for (float v : a.data)
        out.push_back(static_cast<int64_t>(v));
    } else {
      int64_t last = a.shape.back();
      for (int64_t i = 0; i + last <= a.size(); i += last)
        out.push_back(argmax(a.ptr() + i, last));
    }
    for (int64_t v : out)
      if (v < 0 || v >= c)
        throw Error("", std::string("MeanIoU: ") + what + " class " + std::to_string(v) +
                            " is not in [0, " + std::to_string(c) + ")");
    return out;
  };
  (void)rows;
  std::vector<int64_t> t = ids(y, o.sparse_y_true, "target"),
                       q = ids(p, o.sparse_y_pred, "predicted");
  if (t.size() != q.size())
    throw Error("", "MeanIoU got " + std::to_string(t.size()) + " targets for " +
                        std::to_string(q.size()) + " predictions (sparse_y_pred=false takes "
                        "scores along the last axis)");
  for (size_t i = 0; i < t.size(); ++i)
    if (!o.ignore_class || t[i] != *o.ignore_class)
      s.cm[t[i] * c + q[i]] += 1.0;
}

double resultMeanIoU(const metrics::Metric &o, const MetricState &s) {
  int64_t c = o.num_classes;
  if (s.cm.empty())
    return 0.0;
  // Keras: iou = tp / (row + col - tp + epsilon), mean over the classes with a denominator
  // above 1e-9, divided by (count + epsilon).
  double sum = 0, valid = 0;
  for (int64_t k = 0; k < c; ++k) {
    double row = 0, col = 0;
    for (int64_t j = 0; j < c; ++j)
      row += s.cm[k * c + j], col += s.cm[j * c + k];
    double tp = s.cm[k * c + k], den = row + col - tp;
    valid += den > 1e-9;
    sum += tp / (den + 1e-7);
  }
  return sum / (valid + 1e-7);
}


/// Adds rows [0, n) of prediction `p` against target `y` to `s`.
void accumulate(const MetricSpec &m, const Array &p, const Array &y, int64_t n,
                MetricState &s) {
  if (m.kind == "auc")
    return accumulateAUC(*m.object, p, y, s);
  if (m.kind == "mean_io_u")
    return accumulateMeanIoU(*m.object, p, y, n, s);
  int64_t c = p.shape.back();
  int64_t rows = n == 0 ? 0 : p.size() / c; // samples x inner positions
  int64_t ycols = y.size() / std::max<int64_t>(1, rows);
  const std::string &k = m.kind;
  for (int64_t r = 0; r < rows; ++r) {
    const float *pr = p.ptr() + r * c;
    const float *yr = y.ptr() + r * ycols;
    double v = 0;
    if (k == "categorical_accuracy")
      v = argmax(pr, c) == argmax(yr, ycols);
    else if (k == "sparse_categorical_accuracy")
      v = argmax(pr, c) == static_cast<int64_t>(std::lround(yr[0]));
    else if (k == "top_k_categorical_accuracy" || k == "sparse_top_k_categorical_accuracy") {
      int64_t label = k[0] == 's' ? std::lround(yr[0]) : argmax(yr, ycols);
      int64_t better = 0;
      for (int64_t j = 0; j < c; ++j)
        better += pr[j] > pr[label];
      v = better < 5;
    } else if (k == "binary_accuracy") {
      for (int64_t j = 0; j < c; ++j)
        v += (pr[j] > 0.5f) == (yr[j] > 0.5f);
      v /= c;
    } else if (k == "mean_squared_error" || k == "mean_absolute_error") {
      for (int64_t j = 0; j < c; ++j) {
        double d = double(pr[j]) - yr[j];
        v += k == "mean_squared_error" ? d * d : std::fabs(d);
      }
      v /= c;
    } else if (k == "cosine_similarity") {
      double py = 0, pp = 0, yy = 0;
      for (int64_t j = 0; j < c; ++j)
        py += double(pr[j]) * yr[j], pp += double(pr[j]) * pr[j], yy += double(yr[j]) * yr[j];
      v = py / std::sqrt(std::max(pp, 1e-12)) / std::sqrt(std::max(yy, 1e-12));
    } else if (k == "precision" || k == "recall") {
      for (int64_t j = 0; j < c; ++j) {
        bool pred = pr[j] > 0.5f, truth = yr[j] > 0.5f;
        s.tp += pred && truth;
        s.fp += pred && !truth;
        s.fn += !pred && truth;
      }
      continue;
    }
    s.sum += v;
    s.count += 1;
  }
}

double result(const MetricSpec &m, const MetricState &s) {
  if (m.kind == "auc")
    return resultAUC(*m.object, s);
  if (m.kind == "mean_io_u")
    return resultMeanIoU(*m.object, s);
  if (m.kind == "precision")
    return s.tp + s.fp > 0 ? s.tp / (s.tp + s.fp) : 0.0;
  if (m.kind == "recall")
    return s.tp + s.fn > 0 ? s.tp / (s.tp + s.fn) : 0.0;
  return s.count > 0 ? s.sum / s.count : 0.0;
}

Array gather(const Array &a, const std::vector<int64_t> &idx, int64_t begin, int64_t end) {
  Shape s = a.shape;
  s[0] = end - begin;
  Array out(s);
  int64_t row = a.shape[0] ? a.size() / a.shape[0] : 0;
  for (int64_t i = begin; i < end; ++i)
    std::copy_n(a.ptr() + idx[i] * row, row, out.ptr() + (i - begin) * row);
  return out;
}

bool isSparse(const LossSpec &l) { return l.name == "sparse_categorical_crossentropy"; }

struct StepResult {
  double loss;
  std::vector<Array> preds;
};

/// One batch: @eval_step, or (train) @grad_step on slices of the rows in parallel threads,
/// Keeps a GPU model's weights, slots and gradients on the device from step to step while it
/// lives (fit, evaluate); the host copies are brought back when it ends.
class ResidentScope {
public:
  explicit ResidentScope(FitModel &m) : m_(m.onGpu() ? &m : nullptr) {
    if (m_)
      ++m_->residentDepth;
  }
  ~ResidentScope() {
    if (m_ && --m_->residentDepth == 0)
      m_->clearResident();
  }
  ResidentScope(const ResidentScope &) = delete;
  ResidentScope &operator=(const ResidentScope &) = delete;

private:
  FitModel *m_;
};

/// Host buffers the next GPU call may keep resident.
void keepResident(FitModel &m, std::initializer_list<const std::vector<Array> *> groups,
                  const std::vector<Weight *> &weights = {}) {
  if (m.residentDepth <= 0)
    return;
  std::vector<std::pair<void *, size_t>> buffers;
  for (Weight *w : weights)
    buffers.emplace_back(w->value.ptr(), w->value.size() * sizeof(float));
  for (const std::vector<Array> *g : groups)
    for (const Array &a : *g)
      buffers.emplace_back(const_cast<float *>(a.ptr()), a.size() * sizeof(float));
  m.keepResident(buffers);
}

/// the slices' gradients combined by their row counts, then @apply_step.
StepResult runStep(FitModel &m, Training &t, bool train, const std::vector<Array> &xs,
                   const std::vector<Array> &ys, const Array &sw, int64_t rows,
                   bool keepWeightsOnNonFinite = true) {
  std::vector<Weight *> weights = m.allWeights(), trainW, frozenW;
  for (Weight *w : weights)
    (w->trainable ? trainW : frozenW).push_back(w);
  std::vector<Array> &nextState = t.nextState;
  if (nextState.size() != frozenW.size()) {
    nextState.clear();
    for (Weight *w : frozenW)
      nextState.emplace_back(w->value.shape);
  }
  StepResult r;
  for (const auto &out : m.outputSpecs()) {
    Shape s = out.second;
    s[0] = rows;
    r.preds.emplace_back(s);
  }
  // Rows [begin, end) through @grad_step / @eval_step; `grads` receives the slice's gradients.
  int64_t iteration = t.iterations;
  auto slice = [&](int64_t begin, int64_t end, float &loss, std::vector<Array> *grads) {
    std::vector<Descriptor> d;
    auto rowsOf = [&](const Array &a) {
      Shape s = a.shape;
      int64_t row = s[0] ? a.size() / s[0] : 0;
      s[0] = end - begin;
      d.emplace_back(a.ptr() + begin * row, s);
    };
    for (const Array &x : xs)
      rowsOf(x);
    for (const Array &y : ys)
      rowsOf(y);
    rowsOf(sw);
    for (Weight *w : weights)
      d.emplace_back(w->value.ptr(), w->value.shape);
    if (grads)
      d.emplace_back(&iteration, Shape{});
    d.emplace_back(&loss, Shape{});
    for (Array &p : r.preds)
      rowsOf(p);
    if (grads) {
      for (Array &g : *grads)
        d.emplace_back(g.ptr(), g.shape);
      for (Array &a : nextState) // only one slice runs when there is state
        d.emplace_back(a.ptr(), a.shape);
    }
    callPacked(grads ? t.gradStep : t.evalStep, d, m.modelName(),
               grads ? "grad_step" : "eval_step", end - begin);
  };

  if (!train) {
    keepResident(m, {}, weights);
    float loss = 0;
    slice(0, rows, loss, nullptr);
    if (m.onGpu())
      m.checkDevice();
    r.loss = loss;
    return r;
  }

  // Data parallel: each thread takes at least 16 rows. A model with state (BatchNormalization's
  // batch statistics) needs the whole batch in one slice.
  int64_t parts = std::max<int64_t>(1, std::min<int64_t>(threadCount(0), rows / 16));
  if (!frozenW.empty() || m.onGpu() || m.wholeBatchSteps()) // the GPU takes the whole batch
    parts = 1;
  auto &grads = t.gradBuffers;
  if (static_cast<int64_t>(grads.size()) < parts)
    grads.resize(parts);
  for (int64_t p = 0; p < parts; ++p)
    if (grads[p].size() != trainW.size()) {
      grads[p].clear();
      for (Weight *w : trainW)
        grads[p].emplace_back(w->value.shape);
    }
  keepResident(m, {&grads[0], &nextState}, weights);
  std::vector<float> losses(parts, 0.0f);
  std::vector<int64_t> bounds(parts + 1);
  for (int64_t p = 0; p <= parts; ++p)
    bounds[p] = rows * p / parts;
  {
    std::vector<std::thread> workers;
    std::vector<std::exception_ptr> errors(parts);
    for (int64_t p = 1; p < parts; ++p)
      workers.emplace_back([&, p] {
        try {
          slice(bounds[p], bounds[p + 1], losses[p], &grads[p]);
        } catch (...) {
          errors[p] = std::current_exception();
        }
      });
    try {
      slice(bounds[0], bounds[1], losses[0], &grads[0]);
    } catch (...) {
      errors[0] = std::current_exception();
    }
    joinAll(workers, errors);
  }
  if (m.onGpu())
    m.checkDevice();
  double loss = 0;
  for (int64_t p = 0; p < parts; ++p)
    loss += double(losses[p]) * double(bounds[p + 1] - bounds[p]) / double(rows);
  r.loss = loss;
  // fit's default stops with the weights from before this batch; with TerminateOnNaN the update
  // is applied as Keras applies it.
  if (!std::isfinite(r.loss) && keepWeightsOnNonFinite)
    return r;
  // The mean loss's gradient is the row-weighted mean of the slices' gradients.
  if (parts > 1)
    for (size_t i = 0; i < trainW.size(); ++i) {
      float *g0 = grads[0][i].ptr();
      int64_t n = grads[0][i].size();
      double w0 = double(bounds[1] - bounds[0]) / double(rows);
      for (int64_t j = 0; j < n; ++j)
        g0[j] = float(g0[j] * w0);
      for (int64_t p = 1; p < parts; ++p) {
        const float *gp = grads[p][i].ptr();
        float wp = float(double(bounds[p + 1] - bounds[p]) / double(rows));
        for (int64_t j = 0; j < n; ++j)
          g0[j] += gp[j] * wp;
      }
    }

  for (size_t i = 0; i < frozenW.size(); ++i)
    frozenW[i]->value.data.swap(nextState[i].data);

  std::vector<Descriptor> d;
  for (Weight *w : trainW)
    d.emplace_back(w->value.ptr(), w->value.shape);
  for (Array &g : grads[0])
    d.emplace_back(g.ptr(), g.shape);
  for (auto &s : t.slots)
    for (Array &a : s)
      d.emplace_back(a.ptr(), a.shape);
  std::array<float, kHyperScalars> hyper{};
  double nextProduct = t.nadamProduct;
  const auto &o = t.optimizer;
  double step = double(t.iterations + 1), lr = o.learningRateAt(t.iterations);
  hyper[0] = float(lr);
  if (o.name == "adam" || o.name == "adamw")
    hyper[1] =
        float(lr * std::sqrt(1 - std::pow(o.beta_2, step)) / (1 - std::pow(o.beta_1, step)));
  else if (o.name == "adamax")
    hyper[1] = float(lr / (1 - std::pow(o.beta_1, step)));
  else if (o.name == "nadam") {
    double ut = o.beta_1 * (1.0 - 0.5 * std::pow(0.96, step));
    double ut1 = o.beta_1 * (1.0 - 0.5 * std::pow(0.96, step + 1));
    nextProduct = t.nadamProduct * ut;
    hyper[1] = float(ut1 / (1 - nextProduct * ut1));
    hyper[2] = float((1 - ut) / (1 - nextProduct));
    hyper[3] = float(1 / (1 - std::pow(o.beta_2, step)));
  } else if (o.name == "ftrl")
    hyper[1] = float(o.l2_regularization_strength + o.beta / (2.0 * lr));
  for (float &h : hyper)
    d.emplace_back(&h, Shape{});
  std::vector<Array> &newW = t.nextWeights, &newSlots = t.nextSlots;
  if (newW.size() != trainW.size()) {
    newW.clear();
    for (Weight *w : trainW)
      newW.emplace_back(w->value.shape);
  }
  size_t slotTotal = 0;
  for (auto &s : t.slots)
    slotTotal += s.size();
  if (newSlots.size() != slotTotal) {
    newSlots.clear();
    for (auto &s : t.slots)
      for (Array &a : s)
        newSlots.emplace_back(a.shape);
  }
  for (Array &a : newW)
    d.emplace_back(a.ptr(), a.shape);
  for (Array &a : newSlots)
    d.emplace_back(a.ptr(), a.shape);
  keepResident(m, {&newW, &newSlots});
  for (auto &s : t.slots)
    keepResident(m, {&s});
  callPacked(t.applyStep, d, m.modelName(), "apply_step", rows);
  if (m.onGpu())
    m.checkDevice();
  for (size_t i = 0; i < trainW.size(); ++i)
    trainW[i]->value.data.swap(newW[i].data);
  size_t k = 0;
  for (auto &s : t.slots)
    for (Array &a : s)
      a.data.swap(newSlots[k++].data);
  ++t.iterations;
  t.nadamProduct = nextProduct;
  return r;
}

/// Without TerminateOnNaN in fit's callbacks, a non-finite loss ends fit with an error naming
/// the epoch and the batch; fit then keeps the weights from before that batch (issue 3's rule
/// for bad input). fit adds it after the user's callbacks, as Keras adds its defaults.
class NonFiniteLossError : public Callback {
public:
  NonFiniteLossError(std::string modelName, bool newline)
      : modelName_(std::move(modelName)), newline_(newline) {}
  void on_epoch_begin(int epoch, Logs &) override { epoch_ = epoch; }
  void on_train_batch_end(int64_t batch, Logs &logs) override {
    auto it = logs.find("loss");
    if (it == logs.end() || std::isfinite(it->second))
      return;
    if (newline_)
      std::printf("\n");
    throw Error(modelName_,
                "the loss became " + std::string(std::isnan(it->second) ? "NaN" : "infinite") +
                    " at epoch " + std::to_string(epoch_ + 1) + ", batch " +
                    std::to_string(batch + 1) +
                    (params.steps > 0 ? " of " + std::to_string(params.steps) : "") +
                    "; training stopped and the weights are those from before that batch "
                    "(lower the learning rate, or check the data for NaN/Inf; with "
                    "callbacks::TerminateOnNaN fit stops without an error, as Keras does)");
  }

private:
  std::string modelName_;
  bool newline_;
  int epoch_ = 0;
};

template <typename T> bool holds(const std::vector<std::shared_ptr<Callback>> &cbs) {
  return std::any_of(cbs.begin(), cbs.end(),
                     [](const auto &cb) { return dynamic_cast<T *>(cb.get()) != nullptr; });
}

/// The user's callbacks, then Keras' defaults: a ProgbarLogger("steps") when verbose and the
/// user passed none.
std::vector<std::shared_ptr<Callback>> withProgbar(std::vector<std::shared_ptr<Callback>> cbs,
                                                   int verbose) {
  if (verbose > 0 && !holds<callbacks::ProgbarLogger>(cbs))
    cbs.push_back(std::make_shared<callbacks::ProgbarLogger>("steps"));
  return cbs;
}

using NamedValues = std::vector<std::pair<std::string, double>>;

/// Whether a callback may read or write the weights at a batch's end: any but kiln's own that
/// only look at the logs. Resident weights are then brought back to the host before each
/// batch's callbacks.
bool touchesWeightsPerBatch(const std::vector<std::shared_ptr<Callback>> &callbacks) {
  for (const auto &cb : callbacks) {
    Callback *c = cb.get();
    if (!dynamic_cast<callbacks::BaseLogger *>(c) && !dynamic_cast<callbacks::ProgbarLogger *>(c) &&
        !dynamic_cast<callbacks::EarlyStopping *>(c) &&
        !dynamic_cast<callbacks::ReduceLROnPlateau *>(c) &&
        !dynamic_cast<callbacks::LearningRateScheduler *>(c) &&
        !dynamic_cast<callbacks::CSVLogger *>(c) && !dynamic_cast<callbacks::TerminateOnNaN *>(c) &&
        !dynamic_cast<NonFiniteLossError *>(c))
      return true;
  }
  return false;
}

/// Runs a source's batches through @eval_step in order, calling the test hooks; returns the
/// loss then the metrics, by name.
NamedValues evaluateLoop(FitModel &m, Training &t, BatchSource &src,
                         const std::vector<std::shared_ptr<Callback>> &callbacks) {
  auto outs = m.outputSpecs();
  double lossSum = 0;
  int64_t seen = 0;
  std::vector<MetricState> states(t.metrics.size() * outs.size());
  NamedValues logs;
  auto collect = [&] {
    logs = {{"loss", seen ? lossSum / double(seen) : 0}};
    for (size_t o = 0, k = 0; o < outs.size(); ++o)
      for (const MetricSpec &ms : t.metrics) {
        std::string name = outs.size() > 1 ? outs[o].first + "_" + ms.name
                                                : ms.name;
        logs.emplace_back(name, result(ms, states[k++]));
      }
  };
  ResidentScope resident(m);
  bool syncPerBatch = m.onGpu() && touchesWeightsPerBatch(callbacks);
  Logs cbLogs;
  for (const auto &cb : callbacks)
    cb->on_test_begin(cbLogs);
  if (src.beginEpoch)
    src.beginEpoch();
  for (int64_t s = 0; s < src.steps; ++s) {
    cbLogs.clear();
    for (const auto &cb : callbacks)
      cb->on_test_batch_begin(s, cbLogs);
    Batch b = src.get(s);
    if (s == 0)
      m.ensureSteps(targetShapesOf(b.y));
    StepResult r = runStep(m, t, false, b.x, b.y, b.w, b.rows);
    lossSum += r.loss * double(b.rows);
    seen += b.rows;
    for (size_t o = 0, k = 0; o < outs.size(); ++o)
      for (const MetricSpec &ms : t.metrics)
        accumulate(ms, r.preds[o], b.y[o], b.rows, states[k++]);
    collect();
    cbLogs = Logs(logs.begin(), logs.end());
    if (syncPerBatch)
      m.syncResident();
    for (const auto &cb : callbacks)
      cb->on_test_batch_end(s, cbLogs);
  }
  collect();
  cbLogs = Logs(logs.begin(), logs.end());
  for (const auto &cb : callbacks)
    cb->on_test_end(cbLogs);
  return logs;
}

} // namespace

/// A number as a person would write it: 3, 0.5, nan.
std::string formatNumber(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

/// Checks x and y against the model and the losses; returns the sample count.
int64_t checkData(const FitModel &m, const Training &t, const std::vector<Array> &xs,
                  const std::vector<Array> &ys, const char *what) {
  auto ins = m.inputSpecs(), outs = m.outputSpecs();
  if (xs.size() != ins.size())
    throw Error(m.modelName(), std::string(what) + " got " + std::to_string(xs.size()) +
                            " input arrays, the model has " + std::to_string(ins.size()) +
                            " inputs");
  if (ys.size() != outs.size())
    throw Error(m.modelName(), std::string(what) + " got " + std::to_string(ys.size()) +
                            " target arrays, the model has " + std::to_string(outs.size()) +
                            " outputs");
  int64_t n = -1;
  for (size_t i = 0; i < xs.size(); ++i) {
    const Shape &want = ins[i].second;
    bool ok = xs[i].rank() == static_cast<int64_t>(want.size());
    for (size_t d = 1; ok && d < want.size(); ++d)
      ok = xs[i].shape[d] == want[d];
    if (!ok)
      throw Error(ins[i].first, "expected input of shape " + Array::shapeString(want) +
                                                ", got an array of shape " +
                                                Array::shapeString(xs[i].shape));
    if (n >= 0 && xs[i].shape[0] != n)
      throw Error(m.modelName(), "inputs have different sample counts");
    n = xs[i].shape[0];
  }
  m.checkInputValues(xs);
  for (size_t o = 0; o < ys.size(); ++o) {
    const Shape &out = outs[o].second;
    const std::string &layer = outs[o].first;
    const LossSpec &l = t.losses[o];
    if (ys[o].rank() < 1 || ys[o].shape[0] != n)
      throw Error(m.modelName(), "x has " + std::to_string(n) + " samples but y has shape " +
                                     Array::shapeString(ys[o].shape) +
                                     "; they must have the same count");
    if (isSparse(l)) {
      bool ok = ys[o].rank() == 1 || (ys[o].rank() == 2 && ys[o].shape[1] == 1);
      if (!ok || out.size() != 2)
        throw Error(layer, "sparse_categorical_crossentropy takes integer labels of shape (N) "
                           "or (N, 1) for an output of shape (None, classes); got labels " +
                               Array::shapeString(ys[o].shape) + " for output " +
                               Array::shapeString(out));
      int64_t classes = out[1];
      for (int64_t i = 0; i < ys[o].size(); ++i) {
        float v = ys[o].data[i];
        if (!(v >= 0 && v < classes && v == std::floor(v)))
          throw Error(layer, "label " + formatNumber(v) + " of sample " + std::to_string(i) +
                                 " is not a class index in [0, " + std::to_string(classes) + ")");
      }
      continue;
    }
    bool ok = ys[o].rank() == static_cast<int64_t>(out.size());
    for (size_t d = 1; ok && d < out.size(); ++d)
      ok = ys[o].shape[d] == out[d];
    if (!ok)
      throw Error(layer, "loss '" + l.name + "' needs targets shaped like the output " +
                             Array::shapeString(out) + ", got y of shape " +
                             Array::shapeString(ys[o].shape) +
                             (l.name == "categorical_crossentropy"
                                  ? " (for integer labels use sparse_categorical_crossentropy "
                                    "or kiln::utils::to_categorical)"
                                  : ""));
  }
  return n;
}

std::vector<Shape> targetShapesOf(const std::vector<Array> &ys) {
  std::vector<Shape> out;
  for (const Array &y : ys) {
    Shape s = y.shape;
    s[0] = -1;
    out.push_back(s);
  }
  return out;
}

BatchSource arraySource(const std::vector<Array> &xs, const std::vector<Array> &ys,
                        const Array &sw, int64_t n, int64_t batch, bool shuffle,
                        std::mt19937_64 *rng, std::vector<int64_t> &idx) {
  BatchSource src;
  src.samples = n, src.batchSize = batch;
  src.steps = (n + batch - 1) / batch;
  idx.resize(n);
  std::iota(idx.begin(), idx.end(), 0);
  src.beginEpoch = [&idx, shuffle, rng] {
    std::iota(idx.begin(), idx.end(), 0);
    if (shuffle && rng)
      std::shuffle(idx.begin(), idx.end(), *rng);
  };
  src.get = [&xs, &ys, &sw, &idx, n, batch](int64_t s) {
    int64_t b = s * batch, e = std::min(n, b + batch);
    Batch out;
    for (const Array &x : xs)
      out.x.push_back(gather(x, idx, b, e));
    for (const Array &y : ys)
      out.y.push_back(gather(y, idx, b, e));
    out.w = gather(sw, idx, b, e);
    out.rows = e - b;
    return out;
  };
  return src;
}

/// evaluate's callbacks: the user's and a ProgbarLogger when verbose, with their params.
NamedValues evaluateWithCallbacks(Model *self, FitModel &m, BatchSource &src,
                                  int verbose,
                                  const std::vector<std::shared_ptr<Callback>> &user) {
  auto cbs = withProgbar(user, verbose);
  CallbackParams params{.verbose = verbose, .epochs = 1, .steps = src.steps,
                        .samples = src.samples, .batch_size = src.batchSize,
                        .metrics = m.metrics_names()};
  for (const auto &cb : cbs) {
    cb->model = self;
    cb->fit_model = &m;
    cb->params = params;
  }
  return evaluateLoop(m, m.requireTraining("evaluate()"), src, cbs);
}

/// Keras' fit loop over `src`, validating on `validation` (if any) at each epoch's end.
History fitLoop(Model *self, FitModel &m, BatchSource &src,
                BatchSource *validation, const FitOptions &options) {
  Training &t = m.requireTraining("fit()");
  auto outs = m.outputSpecs();
  int verbose = options.verbose < 0 ? 1 : options.verbose;
  int64_t steps = src.steps;
  if (options.steps_per_epoch > 0)
    steps = std::min(steps, options.steps_per_epoch);

  // The user's callbacks, then fit's defaults, as Keras' CallbackList adds them.
  std::vector<std::shared_ptr<Callback>> cbs = options.callbacks;
  bool guarded = !holds<callbacks::TerminateOnNaN>(cbs);
  if (guarded)
    cbs.push_back(std::make_shared<NonFiniteLossError>(
        m.modelName(), verbose == 1 && isatty(fileno(stdout))));
  cbs = withProgbar(std::move(cbs), verbose);
  CallbackParams params{.verbose = verbose, .epochs = options.epochs, .steps = steps,
                        .samples = options.steps_per_epoch > 0
                                       ? std::min(src.samples, steps * src.batchSize)
                                       : src.samples,
                        .batch_size = src.batchSize, .metrics = m.metrics_names()};
  if (validation)
    for (const std::string &k : m.metrics_names())
      params.metrics.push_back("val_" + k);
  for (const auto &cb : cbs) {
    cb->model = self;
    cb->fit_model = &m;
    cb->params = params;
  }

  History history;
  // Weights, slots and gradients stay on the GPU within an epoch; the host copies are brought
  // back before the epoch's end callbacks (and each batch's when a callback may need them).
  ResidentScope resident(m);
  bool syncPerBatch = m.onGpu() && touchesWeightsPerBatch(cbs);
  m.stopTraining = false;
  Logs cbLogs;
  for (const auto &cb : cbs)
    cb->on_train_begin(cbLogs);
  int start = options.initial_epoch;
  for (const auto &cb : cbs)
    start = cb->resume_epoch() >= 0 ? cb->resume_epoch() : start;
  // A resumed fit draws the shuffles of the epochs it skips: with a seed, it then sees the
  // batches the uninterrupted fit would have seen.
  for (int epoch = options.initial_epoch; epoch < start && src.beginEpoch; ++epoch)
    src.beginEpoch();
  for (int epoch = start; epoch < options.epochs && !m.stopTraining; ++epoch) {
    cbLogs.clear();
    for (const auto &cb : cbs)
      cb->on_epoch_begin(epoch, cbLogs);
    if (src.beginEpoch)
      src.beginEpoch();
    double lossSum = 0;
    int64_t seen = 0;
    std::vector<MetricState> states(t.metrics.size() * outs.size());
    NamedValues logs;
    auto collect = [&] {
      logs = {{"loss", seen ? lossSum / double(seen) : 0}};
      for (size_t o = 0, k = 0; o < outs.size(); ++o)
        for (const MetricSpec &ms : t.metrics)
          logs.emplace_back(outs.size() > 1 ? outs[o].first + "_" + ms.name
                                                 : ms.name,
                            result(ms, states[k++]));
    };
    for (int64_t s = 0; s < steps && !m.stopTraining; ++s) {
      Logs batchLogs;
      for (const auto &cb : cbs)
        cb->on_train_batch_begin(s, batchLogs);
      Batch b = src.get(s);
      if (s == 0)
        m.ensureSteps(targetShapesOf(b.y));
      StepResult r = runStep(m, t, true, b.x, b.y, b.w, b.rows, guarded);
      lossSum += r.loss * double(b.rows);
      seen += b.rows;
      for (size_t o = 0, k = 0; o < outs.size(); ++o)
        for (const MetricSpec &ms : t.metrics)
          accumulate(ms, r.preds[o], b.y[o], b.rows, states[k++]);
      collect();
      batchLogs = Logs(logs.begin(), logs.end());
      if (syncPerBatch)
        m.syncResident();
      for (const auto &cb : cbs)
        cb->on_train_batch_end(s, batchLogs);
    }
    collect();
    if (validation) {
      NamedValues v = evaluateLoop(m, t, *validation, cbs);
      for (const auto &[k, value] : v)
        logs.emplace_back("val_" + k, value);
    }
    if (src.endEpoch)
      src.endEpoch();
    cbLogs = Logs(logs.begin(), logs.end());
    if (m.onGpu())
      m.syncResident();
    for (const auto &cb : cbs)
      cb->on_epoch_end(epoch, cbLogs);
    // Keras' History comes after the user's callbacks: it records the logs as they left them
    // (with learning_rate from ReduceLROnPlateau, BaseLogger's averages).
    history.epoch.push_back(epoch);
    for (const auto &[k, v] : cbLogs)
      history.history[k].push_back(v);
  }
  for (const auto &cb : cbs)
    cb->on_train_end(cbLogs);
  return history;
}

History fitArrays(Model *self, FitModel &m, const std::vector<Array> &xAll,
                  const std::vector<Array> &yAll, const FitOptions &options) {
  Training &t = m.requireTraining("fit()");
  int64_t total = checkData(m, t, xAll, yAll, "fit");
  if (options.batch_size <= 0)
    throw Error(m.modelName(),
                "batch_size must be positive, got " + std::to_string(options.batch_size));
  if (!(options.validation_split >= 0 && options.validation_split < 1))
    throw Error(m.modelName(), "validation_split must be in [0, 1)");

  // Keras holds out the last samples, before any shuffling.
  int64_t n = options.validation_split > 0
                  ? static_cast<int64_t>(std::floor(total * (1.0 - options.validation_split)))
                  : total;
  std::vector<Array> vx = options.validation_x, vy = options.validation_y;
  if (options.validation_split > 0) {
    if (n == 0 || n == total)
      throw Error(m.modelName(), "validation_split " + formatNumber(options.validation_split) +
                                     " leaves no samples for training or for validation");
    vx.clear(), vy.clear();
    for (const Array &a : xAll)
      vx.push_back(a.rows(n, total));
    for (const Array &a : yAll)
      vy.push_back(a.rows(n, total));
  }
  bool validate = !vx.empty();
  int64_t nv = validate ? checkData(m, t, vx, vy, "fit (validation data)") : 0;

  Array sw({total});
  std::fill(sw.data.begin(), sw.data.end(), 1.0f);
  if (options.sample_weight) {
    if (options.sample_weight->rank() != 1 || options.sample_weight->shape[0] != total)
      throw Error(m.modelName(), "sample_weight must have shape (" + std::to_string(total) +
                              ",), got " + Array::shapeString(options.sample_weight->shape));
    sw = *options.sample_weight;
  }
  if (!options.class_weight.empty()) {
    const Array &y = yAll[0];
    int64_t cols = y.size() / std::max<int64_t>(1, total);
    for (int64_t i = 0; i < total; ++i) {
      const float *row = y.ptr() + i * cols;
      int64_t label = cols == 1 ? (t.losses[0].name == "binary_crossentropy"
                                       ? (row[0] > 0.5f ? 1 : 0)
                                       : std::lround(row[0]))
                                : argmax(row, cols);
      auto it = options.class_weight.find(label);
      if (it != options.class_weight.end())
        sw.data[i] *= float(it->second);
    }
  }

  m.ensureSteps(targetShapesOf(yAll));
  std::mt19937_64 rng(options.seed ? *options.seed : std::random_device{}());
  std::vector<int64_t> idx, vidx;
  BatchSource src = arraySource(xAll, yAll, sw, n, options.batch_size, options.shuffle, &rng, idx);
  Array vw({nv});
  std::fill(vw.data.begin(), vw.data.end(), 1.0f);
  BatchSource vsrc = arraySource(vx, vy, vw, nv, options.batch_size, false, nullptr, vidx);
  return fitLoop(self, m, src, validate ? &vsrc : nullptr, options);
}

//===----------------------------------------------------------------------===//
// The model's side: slots, names, weights.
//===----------------------------------------------------------------------===//

FitModel *(*fitModelOf)(Model *model) = nullptr;

void callPacked(StepFn fn, std::vector<Descriptor> &descs, const std::string &model,
                const char *entry, int64_t batch) {
  std::vector<void *> ptrs, args;
  for (Descriptor &d : descs)
    ptrs.push_back(d.fields.data());
  for (void *&p : ptrs)
    args.push_back(&p);
  if (uint64_t failed = callGuarded(fn, args.data()))
    throw Error(model, "out of memory allocating " + std::to_string(failed) + " bytes for " +
                           entry + "'s intermediate values, batch " + std::to_string(batch) +
                           " (a smaller batch_size needs less)");
}

void joinAll(std::vector<std::thread> &workers, std::vector<std::exception_ptr> &errors) {
  for (std::thread &w : workers)
    w.join();
  for (std::exception_ptr &e : errors)
    if (e)
      std::rethrow_exception(e);
}

int threadCount(int requested) {
  if (requested > 0)
    return requested;
  if (const char *env = std::getenv("KILN_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0)
      return n;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}


int slotCount(const optimizers::Optimizer &o) {
  if (o.name == "sgd")
    return o.momentum != 0.0 ? 1 : 0;
  if (o.name == "adam" || o.name == "adamw")
    return o.amsgrad ? 3 : 2;
  if (o.name == "rmsprop")
    return 1 + (o.centered ? 1 : 0) + (o.momentum > 0.0 ? 1 : 0);
  if (o.name == "adagrad")
    return 1;
  if (o.name == "adadelta" || o.name == "adamax" || o.name == "nadam" || o.name == "ftrl")
    return 2;
  return 0;
}

void initSlots(Training &t, const std::vector<Weight *> &weights) {
  int slots = slotCount(t.optimizer);
  t.slots.clear();
  for (Weight *w : weights) {
    if (!w->trainable) // moving statistics: no optimizer state
      continue;
    std::vector<Array> s;
    for (int k = 0; k < slots; ++k) {
      Array a(w->value.shape);
      if ((t.optimizer.name == "adagrad" || t.optimizer.name == "ftrl") && k == 0)
        std::fill(a.data.begin(), a.data.end(), float(t.optimizer.initial_accumulator_value));
      s.push_back(std::move(a));
    }
    t.slots.push_back(std::move(s));
  }
}

Training &FitModel::requireTraining(const char *what) const {
  Training *t = trainingState();
  if (!t)
    throw Error(modelName(), std::string(what) +
                                 " needs compile() first: model.compile({.optimizer = \"adam\", "
                                 ".loss = \"categorical_crossentropy\"})");
  return *t;
}

std::vector<std::string> FitModel::metrics_names() const {
  Training &t = requireTraining("metrics_names()");
  auto outs = outputSpecs();
  std::vector<std::string> out = {"loss"};
  for (size_t o = 0; o < outs.size(); ++o)
    for (const MetricSpec &m : t.metrics)
      out.push_back(outs.size() > 1 ? outs[o].first + "_" + m.name : m.name);
  return out;
}

std::vector<Array> FitModel::get_weights() const {
  std::vector<Array> out;
  for (Weight *w : allWeights())
    out.push_back(w->value);
  return out;
}

void FitModel::set_weights(const std::vector<Array> &values) {
  std::vector<Weight *> ws = allWeights();
  if (values.size() != ws.size())
    throw Error(modelName(), "set_weights got " + std::to_string(values.size()) +
                                 " arrays, the model has " + std::to_string(ws.size()) +
                                 " weights");
  for (size_t i = 0; i < ws.size(); ++i)
    if (values[i].shape != ws[i]->value.shape)
      throw Error(modelName(), "set_weights: weight " + std::to_string(i) + " ('" +
                                   ws[i]->name + "') has shape " +
                                   Array::shapeString(ws[i]->value.shape) + ", got " +
                                   Array::shapeString(values[i].shape));
  for (size_t i = 0; i < ws.size(); ++i)
    ws[i]->value = values[i];
}

} // namespace detail
} // namespace kiln
