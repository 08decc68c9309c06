//===- SeedCnnPredict.cpp - time kiln's predict on the seed CNN -------------===//
//
// kiln-bench-seed-cnn [--batch N] [--iters K] [--threads T] [--golden DIR]
// Builds the seed CNN with the C++ API, loads the golden weights (test/golden/seed_cnn32), runs
// predict on the first N Fashion-MNIST test images K times and prints `ms=<float>` per call, the
// protocol of bench/seed_cnn_predict.py, which runs PyTorch beside it.
//
//===----------------------------------------------------------------------===//
#include "BenchModels.h"
#include "kiln/Datasets.h"
#include "kiln/Npy.h"
#include "kiln/kiln.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

int main(int argc, char **argv) {
  int64_t batch = 256, iters = 20;
  int threads = 0;
  std::string golden = KILN_SOURCE_DIR "/test/golden/seed_cnn32";
  for (int i = 1; i < argc; ++i) {
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "kiln-bench-seed-cnn: %s needs a value\n", argv[i]);
        std::exit(2);
      }
      return argv[++i];
    };
    if (!std::strcmp(argv[i], "--batch"))
      batch = std::stoll(next());
    else if (!std::strcmp(argv[i], "--iters"))
      iters = std::stoll(next());
    else if (!std::strcmp(argv[i], "--threads"))
      threads = std::stoi(next());
    else if (!std::strcmp(argv[i], "--golden"))
      golden = next();
    else {
      std::fprintf(stderr,
                   "usage: kiln-bench-seed-cnn [--batch N] [--iters K] [--threads T] "
                   "[--golden DIR]\n");
      return 2;
    }
  }
  try {
    kiln::Model model = kiln::bench::buildModel("seed_cnn");
    const char *files[] = {"conv2d/0", "conv2d/1", "conv2d_1/0", "conv2d_1/1",
                           "dense/0",  "dense/1",  "dense_1/0",  "dense_1/1"};
    std::vector<kiln::Array> weights;
    for (const char *f : files)
      weights.push_back(kiln::loadNpy(golden + "/weights/" + f + ".npy"));
    model.set_weights(weights);

    kiln::Array all = kiln::datasets::fashion_mnist::load_test_data().x_test;
    kiln::Array xs = all.rows(0, std::min<int64_t>(batch, all.shape[0]));
    kiln::PredictOptions opts{.batch_size = batch, .threads = threads};
    kiln::Array y = model.predict(xs, opts); // compiles
    kiln::Array want = kiln::loadNpy(golden + "/y.npy");
    double worst = 0;
    for (int64_t i = 0; i < y.size(); ++i)
      worst = std::max(worst, std::fabs(double(y.data[i]) - want.data[i]));
    std::fprintf(stderr, "kiln-bench-seed-cnn: batch %lld, max |kiln - keras| = %.3g\n",
                 static_cast<long long>(xs.shape[0]), worst);
    model.predict(xs, opts);
    for (int64_t i = 0; i < iters; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      model.predict(xs, opts);
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                      .count();
      std::printf("ms=%.4f\n", ms);
    }
  } catch (const std::exception &e) {
    std::fprintf(stderr, "kiln-bench-seed-cnn: %s\n", e.what());
    return 1;
  }
  return 0;
}
