//===- Datasets.cpp - Fashion-MNIST from its IDX files -===//
#include "kiln/Datasets.h"

#include "kiln/Idx.h"

#include "FileBytes.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>

namespace kiln::datasets::fashion_mnist {
namespace {

/// `dir/name`, or `dir/name.gz` when only the compressed file is there.
std::string findFile(const std::string &dir, const std::string &name) {
  std::filesystem::path plain = std::filesystem::path(dir) / name;
  std::filesystem::path gz = std::filesystem::path(dir) / (name + ".gz");
  std::error_code ec;
  if (std::filesystem::exists(plain, ec))
    return plain.string();
  if (std::filesystem::exists(gz, ec))
    return gz.string();
  io::fail(plain.string(), "Fashion-MNIST file not found (nor " + gz.filename().string() +
                               "); install Debian's dataset-fashion-mnist or set "
                               "KILN_FASHION_MNIST_DIR");
}

void loadPair(const std::string &dir, const std::string &prefix, Array &x, Array &y) {
  std::string imagesPath = findFile(dir, prefix + "-images-idx3-ubyte");
  std::string labelsPath = findFile(dir, prefix + "-labels-idx1-ubyte");
  x = loadIdxImages(imagesPath, /*scale=*/true);
  if (x.shape[1] != 28 || x.shape[2] != 28)
    io::fail(imagesPath, "expected 28x28 images, got shape " + io::tupleString(x.shape));
  y = loadIdx(labelsPath);
  if (y.rank() != 1)
    io::fail(labelsPath, "expected labels of rank 1, got shape " + io::tupleString(y.shape));
  if (y.shape[0] != x.shape[0])
    io::fail(labelsPath, std::to_string(y.shape[0]) + " labels for " +
                             std::to_string(x.shape[0]) + " images in " + imagesPath);
  for (size_t i = 0; i < y.data.size(); ++i)
    if (!(y.data[i] >= 0 && y.data[i] <= 9)) {
      char label[32];
      std::snprintf(label, sizeof label, "%g", static_cast<double>(y.data[i]));
      io::fail(labelsPath, "label " + std::string(label) + " at index " +
                               std::to_string(i) + " is outside 0..9");
    }
}

} // namespace

std::string defaultDir() {
  const char *env = std::getenv("KILN_FASHION_MNIST_DIR");
  if (env && *env)
    return env;
  return "/usr/share/datasets/fashion-mnist";
}

Split load_data(const std::string &dir) {
  Split s;
  loadPair(dir, "train", s.x_train, s.y_train);
  loadPair(dir, "t10k", s.x_test, s.y_test);
  return s;
}

Split load_test_data(const std::string &dir) {
  Split s;
  loadPair(dir, "t10k", s.x_test, s.y_test);
  return s;
}

} // namespace kiln::datasets::fashion_mnist
