//===- Datasets.h - the data sets kiln's examples and tests load, Keras-style -===//
#ifndef KILN_DATASETS_H
#define KILN_DATASETS_H

#include "kiln/Array.h"

#include <string>

namespace kiln::datasets {

/// A train/test split as `keras.datasets.*.load_data()` returns it.
struct Split {
  Array x_train, y_train, x_test, y_test;
};

/// Fashion-MNIST from IDX files (Debian's dataset-fashion-mnist package installs them).
namespace fashion_mnist {

using Split = kiln::datasets::Split;

/// `$KILN_FASHION_MNIST_DIR` when set and not empty, else `/usr/share/datasets/fashion-mnist`.
std::string defaultDir();

/// Loads `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte` and
/// `t10k-labels-idx1-ubyte` from `dir`, each plain or with a `.gz` suffix. x is (N, 28, 28, 1)
/// float32 in [0, 1] (pixels / 255), y is (N,) float32 class labels 0..9 (60000 train and 10000
/// test samples in the real data set). Throws std::runtime_error naming the file when one is
/// missing or malformed, when images and labels disagree in count, or a label is outside 0..9.
Split load_data(const std::string &dir = defaultDir());

/// As load_data, but reads only the test files; x_train and y_train stay empty.
Split load_test_data(const std::string &dir = defaultDir());

} // namespace fashion_mnist
} // namespace kiln::datasets

#endif // KILN_DATASETS_H
