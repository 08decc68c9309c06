//===- SeedCnn.cpp - the main demo: the seed CNN on Fashion-MNIST ----------===//
//
// Builds the seed CNN with the functional API, prints Keras' summary, trains it on the 60,000
// Fashion-MNIST training images (Adam 1e-3, categorical crossentropy, batch 128, the test set as
// validation data), evaluates it on the 10,000 test images, predicts them, and writes the model
// out as kiln IR, a native object file and a Keras .h5 file.
// Usage: seed_cnn [OUT_DIR [EPOCHS]]
//
//===----------------------------------------------------------------------===//
#include "codegen/Driver.h"
#include "kiln/Callbacks.h"
#include "kiln/DataUtils.h"
#include "kiln/Plot.h"
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
  int epochs = argc > 2 ? std::atoi(argv[2]) : 5;
  try {
    auto data = kiln::datasets::fashion_mnist::load_data();
    std::printf("Fashion-MNIST: x_train %s, x_test %s\n",
                kiln::Array::shapeString(data.x_train.shape).c_str(),
                kiln::Array::shapeString(data.x_test.shape).c_str());
    kiln::Array y_train = kiln::utils::to_categorical(data.y_train, 10);
    kiln::Array y_test = kiln::utils::to_categorical(data.y_test, 10);

    kiln::utils::set_random_seed(7); // reproducible initial weights
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

    model.compile({.optimizer = kiln::optimizers::Adam(1e-3),
                   .loss = "categorical_crossentropy",
                   .metrics = {"accuracy"}});
    std::filesystem::create_directories(outDir);
    auto t0 = std::chrono::steady_clock::now();
    // All 60,000 training images; the test set is watched after each epoch (it does not
    // steer training). The epochs' logs also go to history.csv (Keras' CSVLogger).
    auto csv = std::make_shared<kiln::callbacks::CSVLogger>(outDir + "/history.csv");
    kiln::History history = model.fit(data.x_train, y_train,
                                      {.batch_size = 128, .epochs = epochs, .seed = 42,
                                       .validation_x = {data.x_test}, .validation_y = {y_test},
                                       .callbacks = {csv}});
    std::printf("trained %d epochs in %.1f s\n", epochs, secondsSince(t0));

    auto [loss, accuracy] = model.evaluate<2>(data.x_test, y_test, {.batch_size = 256});
    std::printf("test loss %.4f, test accuracy %.4f\n", loss, accuracy);

    t0 = std::chrono::steady_clock::now();
    kiln::Array y = model.predict(data.x_test, {.batch_size = 256});
    double seconds = secondsSince(t0);
    std::printf("predict: %lld images in %.3f s (%.0f images/s)\n",
                static_cast<long long>(y.shape[0]), seconds, y.shape[0] / seconds);

    // Pictures: the model's graph (Graphviz DOT, and SVG when graphviz is installed) and the
    // training curves (SVG written by kiln).
    kiln::utils::plot_model(model, outDir + "/seed_cnn.dot", {.show_shapes = true});
    try {
      kiln::utils::plot_model(model, outDir + "/seed_cnn.svg", {.show_shapes = true});
    } catch (const std::exception &e) {
      std::printf("(no model picture: %s)\n", e.what());
    }
    kiln::utils::plot_history(history, outDir + "/curves.svg", {.title = "seed CNN, Fashion-MNIST"});
    std::printf("wrote %s/history.csv, seed_cnn.dot, seed_cnn.svg and curves.svg\n", outDir.c_str());

    std::string mlirPath = outDir + "/seed_cnn.mlir", objPath = outDir + "/seed_cnn.o";
    {
      std::ofstream os(mlirPath + ".tmp");
      os << model.mlir();
    }
    std::filesystem::rename(mlirPath + ".tmp", mlirPath);
    if (mlir::failed(mlir::kiln::compileFile(mlirPath, objPath, mlir::kiln::Stage::Obj, {})))
      return 1;
    model.save(outDir + "/seed_cnn.h5");
    std::printf("wrote %s (kiln dialect), %s (%ju bytes of native code) and %s (Keras h5)\n",
                mlirPath.c_str(), objPath.c_str(),
                static_cast<uintmax_t>(std::filesystem::file_size(objPath)),
                (outDir + "/seed_cnn.h5").c_str());
  } catch (const std::exception &e) {
    std::fprintf(stderr, "seed_cnn: %s\n", e.what());
    return 1;
  }
  return 0;
}
