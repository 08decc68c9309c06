//===- BenchModels.h - the models bench/suite.py runs in kiln and PyTorch ----===//
//
// Built with the C++ API; bench/suite.py defines the same architectures in PyTorch. Each model
// comes with a random batch generator for its input and its loss's labels.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_BENCH_BENCHMODELS_H
#define KILN_BENCH_BENCHMODELS_H

#include "kiln/kiln.h"

#include <random>
#include <stdexcept>
#include <string>

namespace kiln::bench {

/// The names buildModel accepts.
inline constexpr const char *kModelNames = "seed_cnn, seed_mlp, lstm, lstm<steps>, bn_cnn";

/// The sequence length of an `lstm<steps>` model ("lstm": 80), or 0 for the other models.
inline int64_t lstmSteps(const std::string &name) {
  if (name.rfind("lstm", 0) != 0)
    return 0;
  if (name.size() == 4)
    return 80;
  size_t used = 0;
  int64_t steps = std::stoll(name.substr(4), &used);
  if (used != name.size() - 4 || steps < 1)
    throw std::invalid_argument("bad sequence length in '" + name + "'");
  return steps;
}

/// seed_cnn: Conv2D(32,3x3,relu) - MaxPool(2) - Conv2D(64,3x3,relu) - MaxPool(2) - Flatten -
///   Dense(128,relu) - Dense(10,softmax) on 28x28x1 (the seed CNN of examples/ and test/golden).
/// seed_mlp: Flatten - Dense(128,relu) - Dense(10,softmax) on 28x28x1.
/// lstm: Embedding(10000,64) - LSTM(64) - Dense(1,sigmoid) on sequences of 80 word indices
///   (lstm<steps>: of that many; kiln unrolls the LSTM, so compile time grows with the steps).
/// bn_cnn: Conv2D(32,3x3) - BatchNormalization - relu - MaxPool(2) - Conv2D(64,3x3) - BN - relu -
///   MaxPool(2) - Flatten - Dense(128,relu) - Dense(10,softmax) on 28x28x1.
inline Model buildModel(const std::string &name) {
  using namespace kiln::layers;
  if (int64_t steps = lstmSteps(name)) {
    auto inputs = Input({steps});
    auto x = Embedding(10000, 64)(inputs);
    x = LSTM(64)(x);
    return Model(inputs, Dense(1, {.activation = "sigmoid"})(x));
  }
  auto inputs = Input({28, 28, 1});
  Tensor x = inputs;
  if (name == "seed_cnn") {
    x = Conv2D(32, {3, 3}, {.activation = "relu"})(x);
    x = MaxPooling2D({2, 2})(x);
    x = Conv2D(64, {3, 3}, {.activation = "relu"})(x);
    x = MaxPooling2D({2, 2})(x);
  } else if (name == "bn_cnn") {
    for (int64_t filters : {32, 64}) {
      x = Conv2D(filters, {3, 3})(x);
      x = BatchNormalization()(x);
      x = Activation("relu")(x);
      x = MaxPooling2D({2, 2})(x);
    }
  } else if (name != "seed_mlp") {
    throw std::invalid_argument("unknown model '" + name + "' (known: " + kModelNames + ")");
  }
  x = Flatten()(x);
  x = Dense(128, {.activation = "relu"})(x);
  return Model(inputs, Dense(10, {.activation = "softmax"})(x));
}

/// The loss each model trains with (Adam for all).
inline std::string lossOf(const std::string &name) {
  return lstmSteps(name) ? "binary_crossentropy" : "categorical_crossentropy";
}

/// A random batch: uniform [0, 1) images and one-hot labels, or uniform word indices in
/// [0, 10000) and 0/1 labels for the LSTM.
struct Batch {
  Array x, y;
};
inline Batch randomBatch(const std::string &name, int64_t batch, uint64_t seed) {
  std::mt19937_64 rng(seed);
  if (int64_t steps = lstmSteps(name)) {
    std::uniform_int_distribution<int> word(0, 9999), label(0, 1);
    Batch b{Array({batch, steps}), Array({batch, 1})};
    for (float &v : b.x.data)
      v = static_cast<float>(word(rng));
    for (float &v : b.y.data)
      v = static_cast<float>(label(rng));
    return b;
  }
  std::uniform_real_distribution<float> pixel(0.0f, 1.0f);
  std::uniform_int_distribution<int> label(0, 9);
  Batch b{Array({batch, 28, 28, 1}), Array({batch, 10})};
  for (float &v : b.x.data)
    v = pixel(rng);
  for (int64_t i = 0; i < batch; ++i)
    b.y.data[i * 10 + label(rng)] = 1.0f;
  return b;
}

} // namespace kiln::bench

#endif // KILN_BENCH_BENCHMODELS_H
