//===- Callbacks.cpp - Keras' built-in callbacks: early stopping to TensorBoard -===//
#include "kiln/Callbacks.h"

#include "kiln/FitLoop.h"
#include "kiln/Error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <arpa/inet.h>
#include <charconv>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <limits>
#include <netdb.h>
#include <set>
#include <sstream>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace kiln::callbacks {
namespace {

[[noreturn]] void fail(const std::string &who, const std::string &message) {
  throw Error("", who + ": " + message);
}

void warn(const std::string &message) { std::fprintf(stderr, "kiln: warning: %s\n", message.c_str()); }

std::optional<double> lookup(const Logs &logs, const std::string &key) {
  auto it = logs.find(key);
  if (it == logs.end())
    return std::nullopt;
  return it->second;
}

std::string availableKeys(const Logs &logs) {
  std::string s;
  for (const auto &[k, v] : logs)
    s += (s.empty() ? "" : ",") + k;
  return s;
}

/// Keras 3 reads a metric's direction from the metric object; kiln knows its metrics by name.
std::optional<bool> maximizedByName(std::string name) {
  if (name.rfind("val_", 0) == 0)
    name = name.substr(4);
  static const std::set<std::string> up = {
      "accuracy", "acc", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
      "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy", "auc", "precision",
      "recall", "f1_score", "fbeta_score", "r2_score", "cosine_similarity", "mean_io_u"};
  static const std::set<std::string> down = {
      "loss", "mse", "mae", "mape", "msle", "mean_squared_error", "mean_absolute_error",
      "mean_absolute_percentage_error", "mean_squared_logarithmic_error",
      "root_mean_squared_error", "binary_crossentropy", "categorical_crossentropy",
      "sparse_categorical_crossentropy", "hinge", "squared_hinge", "categorical_hinge",
      "kl_divergence", "poisson", "log_cosh_error", "logcosh"};
  if (up.count(name))
    return true;
  if (down.count(name))
    return false;
  return std::nullopt;
}

/// ReduceLROnPlateau's and ModelCheckpoint's older "auto": maximize anything with "acc" in it.
bool keras2Auto(const std::string &mode, const std::string &monitor) {
  if (mode == "max")
    return true;
  if (mode == "min")
    return false;
  return monitor.find("acc") != std::string::npos || monitor.rfind("fmeasure", 0) == 0;
}

void checkMode(const std::string &who, const std::string &mode) {
  if (mode != "auto" && mode != "min" && mode != "max")
    fail(who, "mode must be \"auto\", \"min\" or \"max\", got \"" + mode + "\"");
}

detail::FitModel &requireModel(const Callback &cb, const std::string &who) {
  if (cb.fit_model)
    return *cb.fit_model;
  if (!cb.model || !detail::fitModelOf)
    fail(who, "the callback has no model (pass it to fit in FitOptions::callbacks)");
  return *detail::fitModelOf(cb.model);
}

/// Python's str.format of one value under `spec`.
std::string formatValue(double v, bool integral, const std::string &spec,
                        const std::string &name) {
  if (spec.empty())
    return integral ? std::to_string(static_cast<long long>(v)) : python_float_repr(v);
  size_t i = 0;
  char fill = ' ', align = 0, sign = '-';
  auto isAlign = [](char c) { return c == '<' || c == '>' || c == '^' || c == '='; };
  if (spec.size() >= 2 && isAlign(spec[1]))
    fill = spec[0], align = spec[1], i = 2;
  else if (isAlign(spec[0]))
    align = spec[0], i = 1;
  if (i < spec.size() && (spec[i] == '+' || spec[i] == '-' || spec[i] == ' '))
    sign = spec[i++];
  if (i < spec.size() && spec[i] == '0') {
    if (!align)
      fill = '0', align = '=';
    ++i;
  }
  int width = 0, precision = -1;
  while (i < spec.size() && std::isdigit(static_cast<unsigned char>(spec[i])))
    width = width * 10 + (spec[i++] - '0');
  if (i < spec.size() && spec[i] == ',')
    ++i;
  if (i < spec.size() && spec[i] == '.') {
    precision = 0, ++i;
    while (i < spec.size() && std::isdigit(static_cast<unsigned char>(spec[i])))
      precision = precision * 10 + (spec[i++] - '0');
  }
  char type = i < spec.size() ? spec[i++] : 0;
  if (i != spec.size() || (type && !std::strchr("dfFeEgG%", type)))
    fail("ModelCheckpoint", "cannot format {" + name + ":" + spec + "}");
  std::string body;
  double a = std::fabs(v);
  char buf[512];
  if (type == 'd') {
    if (!integral)
      fail("ModelCheckpoint", "unknown format code 'd' for the float " + name);
    body = std::to_string(static_cast<long long>(a));
  } else if (type == '%') {
    std::snprintf(buf, sizeof buf, "%.*f%%", precision < 0 ? 6 : precision, a * 100);
    body = buf;
  } else if (type) {
    char f[8] = {'%', '.', '*', type, 0};
    std::snprintf(buf, sizeof buf, f, precision < 0 ? 6 : precision, a);
    body = buf;
  } else if (precision >= 0) {
    std::snprintf(buf, sizeof buf, "%.*g", precision ? precision : 1, a);
    body = buf;
  } else {
    body = integral ? std::to_string(static_cast<long long>(a)) : python_float_repr(a);
  }
  std::string s = std::signbit(v) && !std::isnan(v) ? "-" : sign == '+' ? "+" : sign == ' ' ? " " : "";
  if (static_cast<int>(s.size() + body.size()) >= width)
    return s + body;
  size_t pad = width - s.size() - body.size();
  if (!align)
    align = '>';
  switch (align) {
  case '<':
    return s + body + std::string(pad, fill);
  case '^':
    return std::string(pad / 2, fill) + s + body + std::string(pad - pad / 2, fill);
  case '=':
    return s + std::string(pad, fill) + body;
  default:
    return std::string(pad, fill) + s + body;
  }
}

std::string jsonNumber(double v, bool integral) {
  if (std::isnan(v))
    return "NaN";
  if (std::isinf(v))
    return v > 0 ? "Infinity" : "-Infinity";
  return integral ? std::to_string(static_cast<long long>(v)) : python_float_repr(v);
}

std::string jsonString(const std::string &s) { return nlohmann::json(s).dump(); }

/// Python's urllib quote_plus, as requests encodes a form.
std::string quotePlus(const std::string &s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '_' || c == '.' || c == '-' || c == '~')
      out += static_cast<char>(c);
    else if (c == ' ')
      out += '+';
    else {
      char b[4];
      std::snprintf(b, sizeof b, "%%%02X", c);
      out += b;
    }
  }
  return out;
}

} // namespace

std::string python_float_repr(double v) {
  if (std::isnan(v))
    return "nan";
  if (std::isinf(v))
    return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string sci(buf, r.ptr);
  std::string sign;
  if (sci[0] == '-')
    sign = "-", sci = sci.substr(1);
  size_t e = sci.find('e');
  int exp = std::stoi(sci.substr(e + 1));
  std::string digits;
  for (size_t i = 0; i < e; ++i)
    if (sci[i] != '.')
      digits += sci[i];
  if (exp < -4 || exp >= 16) {
    std::string m = digits.substr(0, 1) + (digits.size() > 1 ? "." + digits.substr(1) : "");
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
    return sign + m + eb;
  }
  std::string s;
  if (exp < 0)
    s = "0." + std::string(-exp - 1, '0') + digits;
  else if (static_cast<int>(digits.size()) <= exp + 1)
    s = digits + std::string(exp + 1 - digits.size(), '0') + ".0";
  else
    s = digits.substr(0, exp + 1) + "." + digits.substr(exp + 1);
  return sign + s;
}

std::string format_filepath(const std::string &pattern, const std::map<std::string, double> &values,
                            const std::vector<std::string> &integers) {
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '}' && i + 1 < pattern.size() && pattern[i + 1] == '}') {
      out += '}', ++i;
      continue;
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (i + 1 < pattern.size() && pattern[i + 1] == '{') {
      out += '{', ++i;
      continue;
    }
    size_t close = pattern.find('}', i);
    if (close == std::string::npos)
      fail("ModelCheckpoint", "unmatched '{' in filepath \"" + pattern + "\"");
    std::string field = pattern.substr(i + 1, close - i - 1);
    size_t colon = field.find(':');
    std::string name = field.substr(0, colon);
    std::string spec = colon == std::string::npos ? "" : field.substr(colon + 1);
    auto it = values.find(name);
    if (it == values.end())
      fail("ModelCheckpoint", "failed to format this callback filepath: \"" + pattern +
                                  "\". Reason: no '" + name + "' in the logs");
    bool integral = std::find(integers.begin(), integers.end(), name) != integers.end();
    out += formatValue(it->second, integral, spec, name);
    i = close;
  }
  return out;
}

//===----------------------------------------------------------------------===//
// EarlyStopping
//===----------------------------------------------------------------------===//

EarlyStopping::EarlyStopping(EarlyStoppingOptions o) : options(std::move(o)) {
  checkMode("EarlyStopping", options.mode);
  options.min_delta = std::fabs(options.min_delta);
}

void EarlyStopping::on_train_begin(Logs &) {
  wait = 0, stopped_epoch = 0, best_epoch = 0;
  best.reset();
  bestWeights_.reset();
}

bool EarlyStopping::isImprovement(double value, std::optional<double> reference) const {
  if (!reference)
    return true;
  return maximize_ ? value - options.min_delta > *reference
                   : value + options.min_delta < *reference;
}

void EarlyStopping::on_epoch_end(int epoch, Logs &logs) {
  if (!modeSet_) {
    if (options.mode == "auto") {
      std::optional<bool> up = maximizedByName(options.monitor);
      if (!up)
        fail("EarlyStopping",
             "monitor=" + options.monitor +
                 " but kiln isn't able to automatically determine whether that metric should "
                 "be maximized or minimized. Pass mode \"max\" or \"min\"");
      maximize_ = *up;
    } else {
      maximize_ = options.mode == "max";
    }
    modeSet_ = true;
  }
  std::optional<double> current = lookup(logs, options.monitor);
  if (!current) {
    warn("Early stopping conditioned on metric `" + options.monitor +
         "` which is not available. Available metrics are: " + availableKeys(logs));
    return;
  }
  if (epoch < options.start_from_epoch)
    return;
  detail::FitModel &m = requireModel(*this, "EarlyStopping");
  if (options.restore_best_weights && !bestWeights_) {
    bestWeights_ = m.get_weights();
    best_epoch = epoch;
  }
  ++wait;
  if (isImprovement(*current, best)) {
    best = current;
    best_epoch = epoch;
    if (options.restore_best_weights)
      bestWeights_ = m.get_weights();
    if (!options.baseline || isImprovement(*current, options.baseline))
      wait = 0;
    return;
  }
  if (wait >= options.patience && epoch > 0) {
    stopped_epoch = epoch;
    m.stopTraining = true;
  }
}

void EarlyStopping::on_train_end(Logs &) {
  if (stopped_epoch > 0 && options.verbose > 0)
    std::printf("Epoch %d: early stopping\n", stopped_epoch + 1);
  if (options.restore_best_weights && bestWeights_) {
    if (options.verbose > 0)
      std::printf("Restoring model weights from the end of the best epoch: %d.\n",
                  best_epoch + 1);
    requireModel(*this, "EarlyStopping").set_weights(*bestWeights_);
  }
}

//===----------------------------------------------------------------------===//
// ReduceLROnPlateau
//===----------------------------------------------------------------------===//

ReduceLROnPlateau::ReduceLROnPlateau(ReduceLROnPlateauOptions o) : options(std::move(o)) {
  if (options.factor >= 1.0)
    fail("ReduceLROnPlateau", "does not support a factor >= 1.0, got " +
                                  python_float_repr(options.factor));
  checkMode("ReduceLROnPlateau", options.mode);
  reset();
}

void ReduceLROnPlateau::reset() {
  maximize_ = keras2Auto(options.mode, options.monitor);
  best = maximize_ ? -INFINITY : INFINITY;
  cooldown_counter = 0, wait = 0;
}

bool ReduceLROnPlateau::improved(double current) const {
  return maximize_ ? current > best + options.min_delta : current < best - options.min_delta;
}

void ReduceLROnPlateau::on_train_begin(Logs &) { reset(); }

void ReduceLROnPlateau::on_epoch_end(int epoch, Logs &logs) {
  detail::Training &t = requireModel(*this, "ReduceLROnPlateau").requireTraining("optimizer()");
  optimizers::Optimizer &opt = t.optimizer;
  logs["learning_rate"] = opt.learningRateAt(t.iterations);
  std::optional<double> current = lookup(logs, options.monitor);
  if (!current) {
    warn("Learning rate reduction is conditioned on metric `" + options.monitor +
         "` which is not available. Available metrics are: " + availableKeys(logs));
    return;
  }
  if (cooldown_counter > 0)
    --cooldown_counter, wait = 0;
  if (improved(*current)) {
    best = *current;
    wait = 0;
  } else if (cooldown_counter <= 0) {
    if (++wait >= options.patience) {
      if (opt.schedule)
        fail("ReduceLROnPlateau", "the optimizer's learning rate is a schedule; it cannot be set");
      double old = opt.learning_rate;
      if (old > double(float(options.min_lr))) {
        opt.learning_rate = std::max(old * options.factor, options.min_lr);
        if (options.verbose > 0)
          std::printf("\nEpoch %d: ReduceLROnPlateau reducing learning rate to %s.\n",
                      epoch + 1, python_float_repr(opt.learning_rate).c_str());
        cooldown_counter = options.cooldown;
        wait = 0;
      }
    }
  }
}

//===----------------------------------------------------------------------===//
// LearningRateScheduler
//===----------------------------------------------------------------------===//

LearningRateScheduler::LearningRateScheduler(Schedule s, int verbose)
    : schedule(std::move(s)), verbose(verbose) {
  if (!schedule)
    fail("LearningRateScheduler", "needs a schedule");
}

void LearningRateScheduler::on_epoch_begin(int epoch, Logs &) {
  optimizers::Optimizer &opt =
      requireModel(*this, "LearningRateScheduler").requireTraining("optimizer()").optimizer;
  if (opt.schedule)
    fail("LearningRateScheduler",
         "the optimizer's learning rate is a LearningRateSchedule; it cannot be set");
  double lr = schedule(epoch, opt.learning_rate);
  if (!std::isfinite(lr))
    fail("LearningRateScheduler", "the schedule returned " + python_float_repr(lr) +
                                      " at epoch " + std::to_string(epoch));
  opt.learning_rate = lr;
  if (verbose > 0)
    std::printf("\nEpoch %d: LearningRateScheduler setting learning rate to %s.\n", epoch + 1,
                python_float_repr(lr).c_str());
}

void LearningRateScheduler::on_epoch_end(int, Logs &logs) {
  detail::Training &t = requireModel(*this, "LearningRateScheduler").requireTraining("optimizer()");
  logs["learning_rate"] = t.optimizer.learning_rate;
}

//===----------------------------------------------------------------------===//
// CSVLogger
//===----------------------------------------------------------------------===//

CSVLogger::CSVLogger(std::string f, std::string sep, bool app)
    : filename(std::move(f)), separator(std::move(sep)), append(app) {
  if (separator.size() != 1)
    fail("CSVLogger", "the separator must be one character, got \"" + separator + "\"");
}

CSVLogger::~CSVLogger() {
  if (file_)
    std::fclose(file_);
}

void CSVLogger::on_train_begin(Logs &) {
  if (append) {
    if (fs::exists(filename)) {
      std::ifstream in(filename);
      std::string first;
      std::getline(in, first);
      appendHeader_ = first.empty();
    }
  }
  if (file_)
    std::fclose(file_);
  file_ = std::fopen(filename.c_str(), append ? "ab" : "wb");
  if (!file_)
    fail("CSVLogger", "cannot open '" + filename + "': " + std::strerror(errno));
}

void CSVLogger::on_epoch_end(int epoch, Logs &logs) {
  if (!file_)
    fail("CSVLogger", "on_epoch_end before on_train_begin");
  char sep = separator[0];
  auto field = [&](const std::string &s) {
    if (s.find_first_of(std::string(1, sep) + "\"\r\n") == std::string::npos)
      return s;
    std::string q = "\"";
    for (char c : s)
      q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  std::string row;
  if (!keys_) {
    keys_.emplace();
    for (const auto &[k, v] : logs)
      keys_->push_back(k); // std::map iterates sorted, as Keras sorts
    bool hasVal = std::any_of(keys_->begin(), keys_->end(),
                              [](const std::string &k) { return k.rfind("val_", 0) == 0; });
    if (!hasVal) {
      size_t n = keys_->size();
      for (size_t i = 0; i < n; ++i)
        keys_->push_back("val_" + (*keys_)[i]);
    }
    if (appendHeader_) {
      row = "epoch";
      for (const std::string &k : *keys_)
        row += sep + field(k);
      row += "\r\n";
    }
  }
  row += std::to_string(epoch);
  for (const std::string &k : *keys_) {
    std::optional<double> v = lookup(logs, k);
    row += sep + field(v ? python_float_repr(*v) : "NA");
  }
  row += "\r\n";
  std::fwrite(row.data(), 1, row.size(), file_);
  std::fflush(file_);
}

void CSVLogger::on_train_end(Logs &) {
  if (file_)
    std::fclose(file_);
  file_ = nullptr;
  // Keras keeps the keys but makes a new writer (and maybe a header) on the next fit.
  appendHeader_ = true;
}

//===----------------------------------------------------------------------===//
// BaseLogger
//===----------------------------------------------------------------------===//

namespace {
bool contains(const std::vector<std::string> &v, const std::string &k) {
  return std::find(v.begin(), v.end(), k) != v.end();
}
/// Samples in batch `batch` (0-based) by the params fit set; 1 when fit did not say.
int64_t batchSamples(const CallbackParams &p, int64_t batch) {
  if (p.batch_size <= 0)
    return 1;
  if (p.samples <= 0)
    return p.batch_size;
  return std::max<int64_t>(0, std::min(p.batch_size, p.samples - batch * p.batch_size));
}
double seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
} // namespace

BaseLogger::BaseLogger(std::vector<std::string> stateful) : stateful_metrics(std::move(stateful)) {}

void BaseLogger::on_epoch_begin(int, Logs &) {
  seen = 0;
  totals.clear();
}

void BaseLogger::on_train_batch_end(int64_t batch, Logs &logs) {
  int64_t size = batchSamples(params, batch);
  seen += size;
  for (const auto &[k, v] : logs) {
    if (contains(stateful_metrics, k) || contains(params.metrics, k))
      totals[k] = v;
    else
      totals[k] += v * double(size);
  }
}

void BaseLogger::on_epoch_end(int, Logs &logs) {
  for (const auto &[k, v] : totals) {
    if (contains(stateful_metrics, k) || contains(params.metrics, k))
      logs[k] = v;
    else if (seen > 0)
      logs[k] = v / double(seen);
  }
}

//===----------------------------------------------------------------------===//
// ProgbarLogger
//===----------------------------------------------------------------------===//

namespace {
std::string formatValue(double v) {
  char buf[64];
  if (std::fabs(v) > 1e-3 || v == 0)
    std::snprintf(buf, sizeof buf, "%.4f", v);
  else
    std::snprintf(buf, sizeof buf, "%.4e", v);
  return buf;
}

std::string perUnit(double seconds, const char *unit) {
  char buf[64];
  if (seconds >= 1)
    std::snprintf(buf, sizeof buf, "%.0fs/%s", seconds, unit);
  else if (seconds >= 1e-3)
    std::snprintf(buf, sizeof buf, "%.0fms/%s", seconds * 1e3, unit);
  else
    std::snprintf(buf, sizeof buf, "%.0fus/%s", seconds * 1e6, unit);
  return buf;
}
} // namespace

ProgbarLogger::ProgbarLogger(std::string mode, std::vector<std::string> stateful)
    : count_mode(std::move(mode)), stateful_metrics(std::move(stateful)) {
  if (count_mode != "steps" && count_mode != "samples")
    fail("ProgbarLogger", "unknown count_mode '" + count_mode + "' (use \"steps\" or \"samples\")");
}

void ProgbarLogger::reset() {
  bool samples = count_mode == "samples" && params.samples > 0;
  target_ = samples ? params.samples : params.steps;
  seen_ = 0;
  averages_.clear();
  last_.clear();
  dynamic_ = params.verbose == 1 && isatty(fileno(stream));
  start_ = seconds();
  lastPrint_ = -1;
  active_ = params.verbose > 0;
}

std::vector<std::pair<std::string, double>> ProgbarLogger::ordered(const Logs &logs) const {
  std::vector<std::pair<std::string, double>> out;
  std::vector<std::string> order = {"loss"};
  for (const std::string &k : params.metrics)
    if (k != "loss")
      order.push_back(k);
  for (const std::string &k : order)
    if (auto it = logs.find(k); it != logs.end())
      out.emplace_back(k, it->second);
  for (const auto &[k, v] : logs)
    if (!contains(order, k))
      out.emplace_back(k, v);
  return out;
}

std::string ProgbarLogger::counter(int64_t current) const {
  std::string t = std::to_string(target_), c = std::to_string(current);
  return std::string(t.size() > c.size() ? t.size() - c.size() : 0, ' ') + c + "/" + t;
}

std::string ProgbarLogger::bar(int64_t current) const {
  int64_t width = 30, done = target_ ? width * std::min(current, target_) / target_ : width;
  std::string b = "[";
  if (done > 0) {
    b += std::string(done - 1, '=');
    b += current < target_ ? '>' : '=';
  }
  b += std::string(width - done, '.') + "]";
  return counter(current) + " " + b;
}

void ProgbarLogger::update(int64_t batch, const Logs &logs) {
  if (!active_)
    return;
  int64_t before = seen_;
  seen_ = count_mode == "samples" && params.samples > 0
              ? std::min(params.samples, seen_ + batchSamples(params, batch))
              : batch + 1;
  double weight = double(std::max<int64_t>(seen_ - before, 1));
  for (const auto &[k, v] : logs) {
    if (contains(stateful_metrics, k) || contains(params.metrics, k) || k == "loss") {
      last_[k] = v;
    } else {
      auto &[sum, w] = averages_[k];
      sum += v * weight;
      w += weight;
    }
  }
  if (!dynamic_)
    return;
  double now = seconds();
  if (seen_ < target_ && lastPrint_ >= 0 && now - lastPrint_ < 0.1)
    return;
  lastPrint_ = now;
  double elapsed = now - start_;
  double eta = seen_ > 0 ? elapsed / double(seen_) * double(target_ - seen_) : 0;
  Logs shown = last_;
  for (const auto &[k, sw] : averages_)
    shown[k] = sw.first / sw.second;
  std::string line;
  for (const auto &[k, v] : ordered(shown))
    line += " - " + k + ": " + formatValue(v);
  std::fprintf(stream, "\r%s - ETA: %.0fs%s", bar(seen_).c_str(), eta, line.c_str());
  std::fflush(stream);
}

void ProgbarLogger::finish(const Logs &logs) {
  if (!active_)
    return;
  active_ = false;
  double elapsed = seconds() - start_;
  // The final logs as given; keys only the batches logged, as their average or last value.
  Logs shown = logs;
  for (const auto &[k, v] : last_)
    shown.emplace(k, v);
  for (const auto &[k, sw] : averages_)
    shown.emplace(k, sw.first / sw.second);
  std::string line;
  for (const auto &[k, v] : ordered(shown))
    line += " - " + k + ": " + formatValue(v);
  int64_t target = target_ ? target_ : seen_;
  const char *unit = count_mode == "samples" && params.samples > 0 ? "sample" : "step";
  std::string per = perUnit(target ? elapsed / double(target) : 0, unit);
  int64_t savedTarget = target_;
  target_ = target;
  if (params.verbose == 1)
    std::fprintf(stream, "%s%s - %.0fs %s%s\n", dynamic_ ? "\r" : "", bar(target).c_str(),
                 elapsed, per.c_str(), line.c_str());
  else
    std::fprintf(stream, "%s - %.0fs%s - %.0fs/epoch - %s\n", counter(target).c_str(), elapsed,
                 line.c_str(), elapsed, per.c_str());
  target_ = savedTarget;
  std::fflush(stream);
}

// Inside fit, validation's test hooks draw nothing: the epoch's line carries the val_ values.
void ProgbarLogger::on_train_begin(Logs &) { inFit_ = true; }
void ProgbarLogger::on_train_end(Logs &) { inFit_ = false; }

void ProgbarLogger::on_epoch_begin(int epoch, Logs &) {
  reset();
  if (params.verbose && params.epochs > 1) {
    std::fprintf(stream, "Epoch %d/%d\n", epoch + 1, params.epochs);
    std::fflush(stream);
  }
}

void ProgbarLogger::on_train_batch_end(int64_t batch, Logs &logs) { update(batch, logs); }
void ProgbarLogger::on_epoch_end(int, Logs &logs) { finish(logs); }

void ProgbarLogger::on_test_begin(Logs &) {
  if (!inFit_)
    reset();
}
void ProgbarLogger::on_test_batch_end(int64_t batch, Logs &logs) {
  if (!inFit_)
    update(batch, logs);
}
void ProgbarLogger::on_test_end(Logs &logs) {
  if (!inFit_)
    finish(logs);
}
void ProgbarLogger::on_predict_begin(Logs &) { reset(); }
void ProgbarLogger::on_predict_batch_end(int64_t batch, Logs &logs) { update(batch, logs); }
void ProgbarLogger::on_predict_end(Logs &logs) { finish(logs); }

//===----------------------------------------------------------------------===//
// TerminateOnNaN
//===----------------------------------------------------------------------===//

void TerminateOnNaN::on_train_batch_end(int64_t batch, Logs &logs) {
  std::optional<double> loss = lookup(logs, "loss");
  if (loss && !std::isfinite(*loss)) {
    std::printf("Batch %lld: Invalid loss, terminating training\n", static_cast<long long>(batch));
    requireModel(*this, "TerminateOnNaN").stopTraining = true;
  }
}

//===----------------------------------------------------------------------===//
// ModelCheckpoint
//===----------------------------------------------------------------------===//

ModelCheckpoint::ModelCheckpoint(std::string path, ModelCheckpointOptions o)
    : filepath(std::move(path)), options(std::move(o)) {
  checkMode("ModelCheckpoint", options.mode);
  maximize_ = keras2Auto(options.mode, options.monitor);
  best = options.initial_value_threshold ? *options.initial_value_threshold
                                         : maximize_ ? -INFINITY : INFINITY;
  auto endsWith = [&](const std::string &s) {
    return filepath.size() >= s.size() && filepath.compare(filepath.size() - s.size(), s.size(), s) == 0;
  };
  if (options.save_weights_only ? !endsWith(".h5") : !endsWith(".h5") && !endsWith(".keras"))
    fail("ModelCheckpoint", std::string("the filepath must end in ") +
                                (options.save_weights_only ? "`.weights.h5` or `.h5`"
                                                           : "`.keras` or `.h5`") +
                                " (kiln writes Keras' .keras and HDF5 formats). Received: "
                                "filepath=" + filepath);
  if (!options.save_weights_only && endsWith(".weights.h5"))
    fail("ModelCheckpoint", "a `.weights.h5` filepath needs save_weights_only. Received: "
                            "filepath=" + filepath);
}

void ModelCheckpoint::on_epoch_end(int epoch, Logs &logs) {
  detail::FitModel &m = requireModel(*this, "ModelCheckpoint");
  std::map<std::string, double> values(logs.begin(), logs.end());
  values["epoch"] = epoch + 1;
  std::string path = format_filepath(filepath, values);
  if (options.save_best_only) {
    std::optional<double> current = lookup(logs, options.monitor);
    if (!current) {
      warn("Can save best model only with " + options.monitor + " available.");
    } else if (maximize_ ? *current > best : *current < best) {
      if (options.verbose > 0)
        std::printf("\nEpoch %d: %s improved from %s to %s, saving model to %s\n", epoch + 1,
                    options.monitor.c_str(), python_float_repr(best).c_str(),
                    python_float_repr(*current).c_str(), path.c_str());
      best = *current;
    } else {
      if (options.verbose > 0)
        std::printf("\nEpoch %d: %s did not improve from %s\n", epoch + 1,
                    options.monitor.c_str(), python_float_repr(best).c_str());
      return;
    }
  } else if (options.verbose > 0) {
    std::printf("\nEpoch %d: saving model to %s\n", epoch + 1, path.c_str());
  }
  fs::path dir = fs::path(path).parent_path();
  if (!dir.empty())
    fs::create_directories(dir);
  if (options.save_weights_only)
    m.save_weights(path);
  else
    m.save(path);
}

//===----------------------------------------------------------------------===//
// BackupAndRestore
//===----------------------------------------------------------------------===//

namespace {
constexpr char kOptimizerMagic[8] = {'K', 'I', 'L', 'N', 'O', 'P', 'T', '1'};

/// fsyncs a directory, so that a rename in it survives a power loss (best effort).
void syncDirectory(const fs::path &dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

template <typename T> void put(std::ostream &os, const T &v) {
  os.write(reinterpret_cast<const char *>(&v), sizeof v);
}
template <typename T> T get(std::istream &is, const std::string &file) {
  T v;
  if (!is.read(reinterpret_cast<char *>(&v), sizeof v))
    fail("BackupAndRestore", "'" + file + "' is truncated");
  return v;
}

/// Writes through a temporary file (fsynced) renamed over `path`, then fsyncs the directory:
/// a crash at any moment leaves either the old file or the new one.
void writeAtomically(const fs::path &path, const std::string &bytes) {
  fs::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    fail("BackupAndRestore", "cannot create '" + tmp.string() + "': " + std::strerror(errno));
  for (size_t done = 0; done < bytes.size();) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      int err = n < 0 ? errno : ENOSPC;
      ::close(fd);
      ::unlink(tmp.c_str());
      fail("BackupAndRestore", "cannot write '" + tmp.string() + "': " + std::strerror(err));
    }
    done += size_t(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    fail("BackupAndRestore", "cannot sync '" + tmp.string() + "': " + std::strerror(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    fail("BackupAndRestore", "cannot rename '" + tmp.string() + "' over '" + path.string() +
                                 "': " + std::strerror(err));
  }
  syncDirectory(path.parent_path());
}

/// The backup's files for the state after `epoch` epochs. Each epoch writes new names, so the
/// files training_metadata.json names are never overwritten while it names them.
std::string weightsFile(int epoch) { return "epoch-" + std::to_string(epoch) + ".weights.h5"; }
std::string optimizerFile(int epoch) { return "epoch-" + std::to_string(epoch) + ".optimizer.bin"; }

/// True for the files BackupAndRestore writes: its states, their temporaries, and the single
/// latest.weights.h5 / optimizer.bin of older kiln versions.
bool isBackupFile(const std::string &name) {
  auto ends = [&](const std::string &s) {
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  if (name.find(".tmp.") != std::string::npos)
    return true;
  if (name == "latest.weights.h5" || name == "optimizer.bin")
    return true;
  return name.rfind("epoch-", 0) == 0 && (ends(".weights.h5") || ends(".optimizer.bin"));
}

/// A file name from training_metadata.json, refused when it could point outside the backup.
fs::path backupMember(const fs::path &dir, const nlohmann::json &j, const char *key,
                      const std::string &fallback, const fs::path &meta) {
  std::string name = fallback;
  if (j.contains(key)) {
    if (!j[key].is_string())
      fail("BackupAndRestore", "'" + meta.string() + "': \"" + key + "\" is not a string");
    name = j[key].get<std::string>();
  }
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos)
    fail("BackupAndRestore", "'" + meta.string() + "': \"" + key + "\" must name a file in " +
                                 "the backup directory, got \"" + name + "\"");
  fs::path p = dir / name;
  if (!fs::exists(p))
    fail("BackupAndRestore", "'" + meta.string() + "' names '" + name +
                                 "', which is missing: the backup is incomplete");
  return p;
}
} // namespace

BackupAndRestore::BackupAndRestore(std::string dir, bool del)
    : backup_dir(std::move(dir)), delete_checkpoint(del) {
  if (backup_dir.empty())
    fail("BackupAndRestore", "empty `backup_dir` argument passed");
}

void BackupAndRestore::on_train_begin(Logs &) {
  detail::FitModel &m = requireModel(*this, "BackupAndRestore");
  resumeEpoch_ = -1;
  fs::path dir(backup_dir);
  fs::path meta = dir / "training_metadata.json";
  // training_metadata.json is written last: without it nothing was backed up, whatever other
  // files an interrupted first epoch end left.
  if (!fs::exists(meta))
    return;
  std::ifstream ms(meta);
  nlohmann::json j = nlohmann::json::parse(ms, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("epoch") ||
      !j["epoch"].is_number_integer() || j["epoch"].get<int64_t>() < 0 ||
      j["epoch"].get<int64_t>() > std::numeric_limits<int>::max())
    fail("BackupAndRestore", "'" + meta.string() + "' has no integer \"epoch\"");
  int epoch = j["epoch"].get<int>();
  fs::path weights = backupMember(dir, j, "weights", "latest.weights.h5", meta);
  fs::path opt = backupMember(dir, j, "optimizer", "optimizer.bin", meta);
  m.load_weights(weights.string());
  detail::Training &t = m.requireTraining("BackupAndRestore");
  std::ifstream is(opt, std::ios::binary);
  char magic[8];
  if (!is.read(magic, 8) || std::memcmp(magic, kOptimizerMagic, 8) != 0)
    fail("BackupAndRestore", "'" + opt.string() + "' is not a kiln optimizer state");
  auto iterations = get<int64_t>(is, opt.string());
  auto nadam = get<double>(is, opt.string());
  auto lr = get<double>(is, opt.string());
  auto weightsCount = get<uint64_t>(is, opt.string());
  if (weightsCount != t.slots.size())
    fail("BackupAndRestore", "'" + opt.string() + "' holds optimizer state for " +
                                 std::to_string(weightsCount) + " weights, the model has " +
                                 std::to_string(t.slots.size()));
  std::vector<std::vector<Array>> slots = t.slots;
  for (auto &perWeight : slots) {
    if (get<uint64_t>(is, opt.string()) != perWeight.size())
      fail("BackupAndRestore", "'" + opt.string() + "' was written for another optimizer");
    for (Array &a : perWeight) {
      if (get<uint64_t>(is, opt.string()) != a.data.size())
        fail("BackupAndRestore", "'" + opt.string() + "' does not match the model's shapes");
      if (!is.read(reinterpret_cast<char *>(a.data.data()),
                   static_cast<std::streamsize>(a.data.size() * sizeof(float))))
        fail("BackupAndRestore", "'" + opt.string() + "' is truncated");
    }
  }
  t.slots = std::move(slots);
  t.iterations = iterations, t.nadamProduct = nadam, t.optimizer.learning_rate = lr;
  resumeEpoch_ = epoch;
}

void BackupAndRestore::on_epoch_end(int epoch, Logs &) {
  detail::FitModel &m = requireModel(*this, "BackupAndRestore");
  fs::path dir(backup_dir);
  fs::create_directories(dir);
  // The weights and the optimizer state go to files of their own for this epoch; renaming
  // training_metadata.json over the old one, last, switches the backup to them in one step. A
  // kill before that leaves the previous epoch's backup whole (and files the next epoch end
  // removes); a kill after it leaves this one.
  std::string weights = weightsFile(epoch + 1), opt = optimizerFile(epoch + 1);
  m.save_weights((dir / weights).string());
  const detail::Training &t = m.requireTraining("BackupAndRestore");
  std::ostringstream os;
  os.write(kOptimizerMagic, 8);
  put<int64_t>(os, t.iterations);
  put<double>(os, t.nadamProduct);
  put<double>(os, t.optimizer.learning_rate);
  put<uint64_t>(os, t.slots.size());
  for (const auto &perWeight : t.slots) {
    put<uint64_t>(os, perWeight.size());
    for (const Array &a : perWeight) {
      put<uint64_t>(os, a.data.size());
      os.write(reinterpret_cast<const char *>(a.data.data()),
               static_cast<std::streamsize>(a.data.size() * sizeof(float)));
    }
  }
  writeAtomically(dir / opt, os.str());
  nlohmann::json meta = {{"epoch", epoch + 1}, {"batch", 0}, {"weights", weights},
                         {"optimizer", opt}};
  writeAtomically(dir / "training_metadata.json", meta.dump());
  // The older states, and temporaries left by an interrupted backup.
  std::error_code ec;
  for (const auto &e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name != weights && name != opt && isBackupFile(name))
      fs::remove(e.path(), ec);
  }
}

void BackupAndRestore::on_train_end(Logs &) {
  resumeEpoch_ = -1;
  if (delete_checkpoint && fs::exists(backup_dir)) {
    // The metadata first: a kill in the middle leaves no backup, not one naming deleted files.
    fs::remove(fs::path(backup_dir) / "training_metadata.json");
    fs::remove_all(backup_dir);
  }
}

//===----------------------------------------------------------------------===//
// RemoteMonitor
//===----------------------------------------------------------------------===//

RemoteMonitor::RemoteMonitor(RemoteMonitorOptions o) : options(std::move(o)) {
  if (options.root.rfind("http://", 0) != 0)
    fail("RemoteMonitor", "root must start with http:// (kiln speaks plain HTTP), got \"" +
                              options.root + "\"");
}

namespace {
/// One HTTP/1.1 POST with Connection: close; returns the status code, or -1 with `error` set.
int httpPost(const std::string &root, const std::string &path, const std::string &contentType,
             const std::string &body, const std::map<std::string, std::string> &headers,
             std::string &error) {
  std::string hostPort = root.substr(7);
  if (size_t slash = hostPort.find('/'); slash != std::string::npos)
    hostPort = hostPort.substr(0, slash);
  std::string host = hostPort, port = "80";
  if (size_t colon = hostPort.rfind(':'); colon != std::string::npos)
    host = hostPort.substr(0, colon), port = hostPort.substr(colon + 1);
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    error = gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  for (addrinfo *a = res; a; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0)
      continue;
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
      break;
    error = std::strerror(errno);
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0)
    return -1;
  std::string req = "POST " + path + " HTTP/1.1\r\nHost: " + hostPort +
                    "\r\nContent-Type: " + contentType +
                    "\r\nContent-Length: " + std::to_string(body.size()) +
                    "\r\nConnection: close\r\n";
  for (const auto &[k, v] : headers)
    req += k + ": " + v + "\r\n";
  req += "\r\n" + body;
  for (size_t sent = 0; sent < req.size();) {
    ssize_t n = send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      error = std::strerror(errno);
      close(fd);
      return -1;
    }
    sent += n;
  }
  std::string resp;
  char buf[4096];
  while (resp.find("\r\n") == std::string::npos) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0)
      break;
    resp.append(buf, n);
  }
  close(fd);
  int status = -1;
  if (std::sscanf(resp.c_str(), "HTTP/%*s %d", &status) != 1)
    error = "no HTTP status line in the reply";
  return status;
}
} // namespace

void RemoteMonitor::on_epoch_end(int epoch, Logs &logs) {
  // Python's json.dumps spelling: ", " and ": " separators, repr floats, epoch first.
  std::string json = "{\"epoch\": " + std::to_string(epoch);
  for (const auto &[k, v] : logs)
    json += ", " + jsonString(k) + ": " + jsonNumber(v, false);
  json += "}";
  std::string error;
  int status = options.send_as_json
                   ? httpPost(options.root, options.path, "application/json", json,
                              options.headers, error)
                   : httpPost(options.root, options.path, "application/x-www-form-urlencoded",
                              quotePlus(options.field) + "=" + quotePlus(json), options.headers,
                              error);
  if (status < 0)
    warn("Could not reach RemoteMonitor root server at " + options.root + " (" + error + ")");
}

//===----------------------------------------------------------------------===//
// TensorBoard
//===----------------------------------------------------------------------===//

uint32_t crc32c(const void *data, size_t size) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k)
        c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  auto *p = static_cast<const unsigned char *>(data);
  for (size_t i = 0; i < size; ++i)
    c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

namespace {
/// Protocol-buffer wire encoding, just what Event needs.
struct Proto {
  std::string bytes;
  void varint(uint64_t v) {
    while (v >= 0x80)
      bytes += static_cast<char>((v & 0x7F) | 0x80), v >>= 7;
    bytes += static_cast<char>(v);
  }
  void tag(int field, int wire) { varint(static_cast<uint64_t>(field) << 3 | wire); }
  void uint(int field, uint64_t v) { tag(field, 0), varint(v); }
  void fixed64(int field, double v) {
    tag(field, 1);
    bytes.append(reinterpret_cast<const char *>(&v), 8);
  }
  void string(int field, const std::string &s) {
    tag(field, 2), varint(s.size());
    bytes += s;
  }
  void message(int field, const Proto &p) { string(field, p.bytes); }
};

double wallTime() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

/// Event{wall_time, step, summary{value{tag, metadata(scalars), tensor(DT_FLOAT scalar)}}}, as
/// tf.summary.scalar writes it.
std::string scalarEvent(const std::string &tag, double value, int64_t step) {
  Proto pluginData;
  pluginData.string(1, "scalars");
  Proto metadata;
  metadata.message(1, pluginData);
  metadata.uint(4, 1); // DATA_CLASS_SCALAR
  Proto tensor;
  tensor.uint(1, 1); // DT_FLOAT
  tensor.message(2, Proto{});
  float f = static_cast<float>(value);
  tensor.string(4, std::string(reinterpret_cast<const char *>(&f), 4));
  Proto v;
  v.string(1, tag);
  v.message(9, metadata);
  v.message(8, tensor);
  Proto summary;
  summary.message(1, v);
  Proto event;
  event.fixed64(1, wallTime());
  event.uint(2, static_cast<uint64_t>(step));
  event.message(5, summary);
  return event.bytes;
}
} // namespace

struct TensorBoard::Writer {
  std::ofstream os;
  std::string path;
  explicit Writer(const fs::path &dir) {
    fs::create_directories(dir);
    static int counter = 0;
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    path = (dir / ("events.out.tfevents." + std::to_string(static_cast<long long>(wallTime())) +
                   "." + host + "." + std::to_string(getpid()) + "." +
                   std::to_string(counter++) + ".v2"))
               .string();
    os.open(path, std::ios::binary);
    if (!os)
      fail("TensorBoard", "cannot write '" + path + "'");
    Proto first;
    first.fixed64(1, wallTime());
    first.string(3, "brain.Event:2");
    record(first.bytes);
  }
  /// TFRecord framing: length, masked CRC of the length, data, masked CRC of the data.
  void record(const std::string &data) {
    uint64_t len = data.size();
    uint32_t lenCrc = masked_crc32c(&len, 8), dataCrc = masked_crc32c(data.data(), data.size());
    os.write(reinterpret_cast<const char *>(&len), 8);
    os.write(reinterpret_cast<const char *>(&lenCrc), 4);
    os.write(data.data(), static_cast<std::streamsize>(data.size()));
    os.write(reinterpret_cast<const char *>(&dataCrc), 4);
    os.flush();
  }
};

TensorBoard::TensorBoard(TensorBoardOptions o) : options(std::move(o)) {}
TensorBoard::~TensorBoard() = default;

void TensorBoard::on_train_begin(Logs &) {
  train_ = std::make_unique<Writer>(fs::path(options.log_dir) / "train");
  train_file = train_->path;
}

void TensorBoard::on_epoch_end(int epoch, Logs &logs) {
  if (!train_)
    on_train_begin(logs);
  Logs train, val;
  for (const auto &[k, v] : logs)
    (k.rfind("val_", 0) == 0 ? val[k.substr(4)] : train[k]) = v;
  detail::FitModel *m = fit_model ? fit_model
                        : model && detail::fitModelOf ? detail::fitModelOf(model)
                                                      : nullptr;
  if (m && m->trainingState())
    train["learning_rate"] =
        m->trainingState()->optimizer.learningRateAt(m->trainingState()->iterations);
  for (const auto &[k, v] : train)
    train_->record(scalarEvent("epoch_" + k, v, epoch));
  if (!val.empty()) {
    if (!validation_) {
      validation_ = std::make_unique<Writer>(fs::path(options.log_dir) / "validation");
      validation_file = validation_->path;
    }
    for (const auto &[k, v] : val)
      validation_->record(scalarEvent("epoch_" + k, v, epoch));
  }
}

void TensorBoard::on_train_end(Logs &) {
  train_.reset();
  validation_.reset();
}

} // namespace kiln::callbacks
