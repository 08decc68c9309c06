//===- SeedCnn.cpp - the main demo: the seed CNN on Fashion-MNIST ----------===//
//
// Builds the seed CNN with the functional API, prints Keras' summary, compiles it to native
// code and runs it in process on the 10,000 Fashion-MNIST test images, then writes the
// compiled model out as an object file. Training (fit) arrives with the training issue; until
// then the weights are Keras' initial ones (glorot_uniform kernels, zero biases).
//
//===----------------------------------------------------------------------===//
#include "codegen/Driver.h"
#include "kiln/Datasets.h"
#include "kiln/kiln.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

namespace {
double secondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
} // namespace

int main(int argc, char **argv) {
  std::string outDir = argc > 1 ? argv[1] : "build/seed_cnn";
  try {
    auto data = kiln::datasets::fashion_mnist::load_test_data();
    std::printf("Fashion-MNIST test set: x %s, y %s\n",
                kiln::Array::shapeString(data.x_test.shape).c_str(),
                kiln::Array::shapeString(data.y_test.shape).c_str());

    auto inputs = kiln::Input({28, 28, 1});
    auto x = kiln::layers::Conv2D(32, {3, 3}, {.activation = "relu"})(inputs);
    x = kiln::layers::MaxPooling2D({2, 2})(x);
    x = kiln::layers::Conv2D(64, {3, 3}, {.activation = "relu"})(x);
    x = kiln::layers::MaxPooling2D({2, 2})(x);
    x = kiln::layers::Flatten()(x);
    x = kiln::layers::Dense(128, {.activation = "relu"})(x);
    auto outputs = kiln::layers::Dense(10, {.activation = "softmax"})(x);
    kiln::Model model(inputs, outputs);
    model.summary();

    auto t0 = std::chrono::steady_clock::now();
    kiln::Array probe = model.predict(data.x_test.rows(0, 1));
    std::printf("compiled to native code in %.2f s\n", secondsSince(t0));

    t0 = std::chrono::steady_clock::now();
    kiln::Array y = model.predict(data.x_test, {.batch_size = 256});
    double seconds = secondsSince(t0);
    int64_t n = y.shape[0], correct = 0;
    for (int64_t i = 0; i < n; ++i) {
      const float *row = y.ptr() + i * 10;
      int64_t label = std::max_element(row, row + 10) - row;
      correct += label == static_cast<int64_t>(data.y_test.data[i]);
    }
    std::printf("predict: %lld images in %.3f s (%.0f images/s), output %s\n",
                static_cast<long long>(n), seconds, n / seconds,
                kiln::Array::shapeString(y.shape).c_str());
    std::printf("accuracy with untrained weights: %.4f (chance is 0.1)\n",
                static_cast<double>(correct) / n);

    std::filesystem::create_directories(outDir);
    std::string mlirPath = outDir + "/seed_cnn.mlir", objPath = outDir + "/seed_cnn.o";
    {
      std::ofstream os(mlirPath + ".tmp");
      os << model.mlir();
    }
    std::filesystem::rename(mlirPath + ".tmp", mlirPath);
    if (mlir::failed(mlir::kiln::compileFile(mlirPath, objPath, mlir::kiln::Stage::Obj, {})))
      return 1;
    std::printf("wrote %s (kiln dialect) and %s (%ju bytes of native code)\n", mlirPath.c_str(),
                objPath.c_str(), static_cast<uintmax_t>(std::filesystem::file_size(objPath)));
  } catch (const std::exception &e) {
    std::fprintf(stderr, "seed_cnn: %s\n", e.what());
    return 1;
  }
  return 0;
}
