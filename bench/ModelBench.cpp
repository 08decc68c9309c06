//===- ModelBench.cpp - time kiln's train step or predict on a bench model ---===//
//
// kiln-bench-model [--model NAME] [--mode train|predict] [--batch N] [--iters K] [--warmup W]
//                  [--threads T] [--seed S] [--device cpu|gpu] [--fit-steps S]
// Builds one of bench/BenchModels.h's models with the C++ API, compiles it with Adam and its
// loss, and times model.train_on_batch (--mode train) or model.predict of one batch of N rows
// (--mode predict) on a random batch, printing `ms=<float>` per timed call (the protocol of the
// other benches). Last, on stdout, `peak_kib=` (the process's peak resident set during the timed
// calls: VmHWM, reset through /proc/self/clear_refs after compiling and warming up) and
// `peak_with_compile_kib=` (the peak over the whole run, the compiler included).
// With --fit-steps S (train), each timed call is instead one epoch of model.fit over S batches
// (the batch repeated, no shuffling, verbose 0) and `ms=` is its time divided by S: the step as
// fit runs it, where a GPU keeps weights and optimizer slots resident between steps.
// kiln-bench-train-step is the same program (its defaults: the seed CNN's train step).
//
//===----------------------------------------------------------------------===//
#include "BenchModels.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_START_INSTRUMENTATION
#define CALLGRIND_STOP_INSTRUMENTATION
#endif

namespace {

/// VmHWM from /proc/self/status in KiB, or -1 where there is none.
long peakKib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmHWM:", 0) == 0)
      return std::atol(line.c_str() + 6);
  return -1;
}

void resetPeak() {
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
}

} // namespace

/// The timed calls, kept out of line under a fixed name. Under `valgrind --tool=callgrind
/// --instr-atstart=no` (bench/fusion_bytes.py) only they are instrumented and counted, not the
/// compiler (which then also runs several times faster). The client requests are a few no-op
/// instructions outside valgrind.
extern "C" __attribute__((noinline)) void
kiln_bench_timed_calls(int64_t iters, int64_t stepsPerCall, std::vector<double> *times,
                       const std::function<void()> *call) {
  CALLGRIND_START_INSTRUMENTATION;
  for (int64_t i = 0; i < iters; ++i) {
    auto t = std::chrono::steady_clock::now();
    (*call)();
    double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count() /
        static_cast<double>(stepsPerCall);
    times->push_back(ms);
    std::printf("ms=%.4f\n", ms);
  }
  CALLGRIND_STOP_INSTRUMENTATION;
}

int main(int argc, char **argv) {
  std::string name = "seed_cnn", mode = "train", device = "cpu";
  int64_t batch = 128, iters = 20, warmup = 2, fitSteps = 0;
  int threads = 0;
  uint64_t seed = 1;
  const char *prog = std::strrchr(argv[0], '/') ? std::strrchr(argv[0], '/') + 1 : argv[0];
  for (int i = 1; i < argc; ++i) {
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s: %s needs a value\n", prog, argv[i]);
        std::exit(2);
      }
      return argv[++i];
    };
    if (!std::strcmp(argv[i], "--model"))
      name = next();
    else if (!std::strcmp(argv[i], "--mode"))
      mode = next();
    else if (!std::strcmp(argv[i], "--batch"))
      batch = std::stoll(next());
    else if (!std::strcmp(argv[i], "--iters"))
      iters = std::stoll(next());
    else if (!std::strcmp(argv[i], "--warmup"))
      warmup = std::stoll(next());
    else if (!std::strcmp(argv[i], "--threads"))
      threads = std::stoi(next());
    else if (!std::strcmp(argv[i], "--seed"))
      seed = std::stoull(next());
    else if (!std::strcmp(argv[i], "--device"))
      device = next();
    else if (!std::strcmp(argv[i], "--fit-steps"))
      fitSteps = std::stoll(next());
    else {
      std::fprintf(stderr,
                   "usage: %s [--model %s] [--mode train|predict] [--batch N] [--iters K] "
                   "[--warmup W] [--threads T] [--seed S] [--device cpu|gpu] [--fit-steps S]\n",
                   prog, kiln::bench::kModelNames);
      return 2;
    }
  }
  if (mode != "train" && mode != "predict") {
    std::fprintf(stderr, "%s: --mode is train or predict, not '%s'\n", prog, mode.c_str());
    return 2;
  }
  // The training step splits a batch over KILN_NUM_THREADS threads (default: every core).
  if (threads > 0)
    setenv("KILN_NUM_THREADS", std::to_string(threads).c_str(), 1);
  try {
    kiln::Model model = kiln::bench::buildModel(name);
    model.compile({.optimizer = kiln::optimizers::Adam(),
                   .loss = kiln::bench::lossOf(name),
                   .device = device});
    kiln::bench::Batch data = kiln::bench::randomBatch(name, batch, seed);
    kiln::PredictOptions popts{.batch_size = batch, .threads = threads};
    double loss = 0;
    std::function<void()> call = [&] { loss = model.train_on_batch(data.x, data.y)[0]; };
    if (mode == "predict")
      call = [&] { model.predict(data.x, popts); };
    // --fit-steps: the batch repeated S times, one epoch of fit per timed call.
    auto repeated = [&](const kiln::Array &a) {
      kiln::Array r;
      r.shape = a.shape;
      r.shape[0] *= fitSteps;
      for (int64_t s = 0; s < fitSteps; ++s)
        r.data.insert(r.data.end(), a.data.begin(), a.data.end());
      return r;
    };
    kiln::bench::Batch fitData;
    if (mode == "train" && fitSteps > 0) {
      fitData = {repeated(data.x), repeated(data.y)};
      call = [&] {
        kiln::History h = model.fit(fitData.x, fitData.y,
                                    {.batch_size = batch, .epochs = 1, .verbose = 0,
                                     .shuffle = false});
        loss = h.history.at("loss").back();
      };
    }

    auto t0 = std::chrono::steady_clock::now();
    call(); // compiles
    std::fprintf(stderr, "%s: %s %s, batch %lld, first call (with compile) %.2f s\n", prog,
                 name.c_str(), mode.c_str(), static_cast<long long>(batch),
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    for (int64_t i = 0; i < warmup; ++i)
      call();
    long withCompile = peakKib();
    resetPeak();
    std::vector<double> times;
    kiln_bench_timed_calls(iters, mode == "train" ? std::max<int64_t>(fitSteps, 1) : 1, &times,
                           &call);
    long peak = peakKib();
    std::printf("peak_kib=%ld\npeak_with_compile_kib=%ld\n", peak, std::max(peak, withCompile));
    if (!std::isfinite(loss))
      throw std::runtime_error("the loss is not finite");
    std::sort(times.begin(), times.end());
    if (!times.empty())
      std::fprintf(stderr, "%s: median %.3f ms, min %.3f ms%s\n", prog, times[times.size() / 2],
                   times.front(),
                   mode == "train" ? (", last loss " + std::to_string(loss)).c_str() : "");
  } catch (const std::exception &e) {
    std::fprintf(stderr, "%s: %s\n", prog, e.what());
    return 1;
  }
  return 0;
}
