//===- TrainStepBench.cpp - time one compiled training step of the seed CNN --===//
//
// kiln-bench-train-step [--batch N] [--iters K] [--warmup W] [--seed S] [--device cpu|gpu]
//                       [--fit-steps S]
// Builds the seed CNN with the C++ API, compiles it with Adam and categorical crossentropy,
// and times model.train_on_batch on a random batch (uniform [0, 1) images, one-hot labels),
// printing `ms=<float>` per call (the protocol of the other benches) and the median last.
// With --fit-steps S, each timed call is instead one epoch of model.fit over S batches (the
// batch repeated, no shuffling, verbose 0) and `ms=` is its time divided by S: the step as
// fit runs it, where a GPU keeps weights and optimizer slots resident between steps.
//
//===----------------------------------------------------------------------===//
#include "kiln/kiln.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

int main(int argc, char **argv) {
  int64_t batch = 128, iters = 20, warmup = 2, fitSteps = 0;
  uint64_t seed = 1;
  std::string device = "cpu";
  for (int i = 1; i < argc; ++i) {
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "kiln-bench-train-step: %s needs a value\n", argv[i]);
        std::exit(2);
      }
      return argv[++i];
    };
    if (!std::strcmp(argv[i], "--batch"))
      batch = std::stoll(next());
    else if (!std::strcmp(argv[i], "--iters"))
      iters = std::stoll(next());
    else if (!std::strcmp(argv[i], "--warmup"))
      warmup = std::stoll(next());
    else if (!std::strcmp(argv[i], "--seed"))
      seed = std::stoull(next());
    else if (!std::strcmp(argv[i], "--device"))
      device = next();
    else if (!std::strcmp(argv[i], "--fit-steps"))
      fitSteps = std::stoll(next());
    else {
      std::fprintf(stderr, "usage: kiln-bench-train-step [--batch N] [--iters K] "
                           "[--warmup W] [--seed S] [--device cpu|gpu] [--fit-steps S]\n");
      return 2;
    }
  }
  try {
    using namespace kiln::layers;
    auto inputs = kiln::Input({28, 28, 1});
    auto x = Conv2D(32, {3, 3}, {.activation = "relu"})(inputs);
    x = MaxPooling2D({2, 2})(x);
    x = Conv2D(64, {3, 3}, {.activation = "relu"})(x);
    x = MaxPooling2D({2, 2})(x);
    x = Flatten()(x);
    x = Dense(128, {.activation = "relu"})(x);
    kiln::Model model(inputs, Dense(10, {.activation = "softmax"})(x));
    model.compile({.optimizer = kiln::optimizers::Adam(),
                   .loss = "categorical_crossentropy",
                   .device = device});

    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> pixel(0.0f, 1.0f);
    std::uniform_int_distribution<int> label(0, 9);
    kiln::Array xs({batch, 28, 28, 1}), ys({batch, 10});
    for (float &v : xs.data)
      v = pixel(rng);
    for (int64_t i = 0; i < batch; ++i)
      ys.data[i * 10 + label(rng)] = 1.0f;

    auto t0 = std::chrono::steady_clock::now();
    std::vector<double> first = model.train_on_batch(xs, ys); // compiles
    std::fprintf(stderr, "kiln-bench-train-step: batch %lld, first step (with compile) %.2f s, "
                         "loss %.4f\n",
                 static_cast<long long>(batch),
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                 first[0]);
    // --fit-steps: the batch repeated S times, one epoch of fit per timed call.
    kiln::Array fitX({batch * std::max<int64_t>(fitSteps, 1), 28, 28, 1}),
        fitY({batch * std::max<int64_t>(fitSteps, 1), 10});
    for (int64_t s = 0; s < fitSteps; ++s) {
      std::copy(xs.data.begin(), xs.data.end(), fitX.data.begin() + s * xs.size());
      std::copy(ys.data.begin(), ys.data.end(), fitY.data.begin() + s * ys.size());
    }
    auto step = [&]() -> double {
      if (fitSteps <= 0)
        return model.train_on_batch(xs, ys)[0];
      kiln::History h = model.fit(fitX, fitY, {.batch_size = batch, .epochs = 1,
                                               .verbose = 0, .shuffle = false});
      return h.history.at("loss").back();
    };
    for (int64_t i = 0; i < warmup; ++i)
      step();
    std::vector<double> times;
    double loss = 0;
    for (int64_t i = 0; i < iters; ++i) {
      auto t = std::chrono::steady_clock::now();
      loss = step();
      double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count() /
          double(std::max<int64_t>(fitSteps, 1));
      times.push_back(ms);
      std::printf("ms=%.4f\n", ms);
    }
    if (!std::isfinite(loss))
      throw std::runtime_error("the loss is not finite");
    std::sort(times.begin(), times.end());
    if (!times.empty())
      std::fprintf(stderr, "kiln-bench-train-step: median %.3f ms, min %.3f ms, last loss %.4f\n",
                   times[times.size() / 2], times.front(), loss);
  } catch (const std::exception &e) {
    std::fprintf(stderr, "kiln-bench-train-step: %s\n", e.what());
    return 1;
  }
  return 0;
}
