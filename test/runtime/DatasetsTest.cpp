//===- DatasetsTest.cpp - Fashion-MNIST through kiln::datasets, the real files and fakes -===//
#include "kiln/Datasets.h"

#include "TestFiles.h"

#include <cstdlib>
#include <set>

namespace fm = kiln::datasets::fashion_mnist;
using kiln::test::expectError;

namespace {

std::string idxBytes(std::vector<uint32_t> dims, const std::string &data) {
  std::string s{'\0', '\0', '\x08', static_cast<char>(dims.size())};
  for (uint32_t d : dims)
    for (int i = 3; i >= 0; --i)
      s.push_back(static_cast<char>((d >> (8 * i)) & 0xff));
  return s + data;
}

class FashionMnist : public kiln::test::ScratchDir {};

TEST_F(FashionMnist, DefaultDirHonoursEnvironment) {
  const char *old = std::getenv("KILN_FASHION_MNIST_DIR");
  std::string saved = old ? old : "";
  ::setenv("KILN_FASHION_MNIST_DIR", "/some/where", 1);
  EXPECT_EQ(fm::defaultDir(), "/some/where");
  ::setenv("KILN_FASHION_MNIST_DIR", "", 1);
  EXPECT_EQ(fm::defaultDir(), "/usr/share/datasets/fashion-mnist");
  if (old)
    ::setenv("KILN_FASHION_MNIST_DIR", saved.c_str(), 1);
  else
    ::unsetenv("KILN_FASHION_MNIST_DIR");
}

TEST_F(FashionMnist, RealTestSet) {
  std::string d = fm::defaultDir();
  if (!std::filesystem::exists(std::filesystem::path(d) / "t10k-images-idx3-ubyte.gz") &&
      !std::filesystem::exists(std::filesystem::path(d) / "t10k-images-idx3-ubyte"))
    GTEST_SKIP() << "Fashion-MNIST is not installed in " << d
                 << " (apt-get install dataset-fashion-mnist, or set KILN_FASHION_MNIST_DIR)";
  fm::Split s = fm::load_test_data(d);
  EXPECT_TRUE(s.x_train.data.empty());
  EXPECT_TRUE(s.y_train.data.empty());
  EXPECT_EQ(s.x_test.shape, (std::vector<int64_t>{10000, 28, 28, 1}));
  EXPECT_EQ(s.y_test.shape, (std::vector<int64_t>{10000}));
  std::set<float> labels(s.y_test.data.begin(), s.y_test.data.end());
  EXPECT_EQ(labels.size(), 10u);
  EXPECT_EQ(*labels.begin(), 0.0f);
  EXPECT_EQ(*labels.rbegin(), 9.0f);
  float lo = 1, hi = 0;
  for (float v : s.x_test.data) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  EXPECT_EQ(lo, 0.0f);
  EXPECT_EQ(hi, 1.0f);
  // The first test image is an ankle boot (class 9), as in keras.datasets.fashion_mnist.
  EXPECT_EQ(s.y_test.data[0], 9.0f);
}

TEST_F(FashionMnist, FakeDirectoryPlainFiles) {
  std::string img(3 * 28 * 28, '\x33');
  write("t10k-images-idx3-ubyte", idxBytes({3, 28, 28}, img));
  write("t10k-labels-idx1-ubyte", idxBytes({3}, std::string("\x00\x05\x09", 3)));
  fm::Split s = fm::load_test_data(dir.string());
  EXPECT_EQ(s.x_test.shape, (std::vector<int64_t>{3, 28, 28, 1}));
  EXPECT_EQ(s.x_test.data[0], 51.0f / 255.0f);
  EXPECT_EQ(s.y_test.data, (std::vector<float>{0, 5, 9}));
  // load_data also needs the train files.
  expectError([&] { fm::load_data(dir.string()); }, "train-images-idx3-ubyte",
              {"Fashion-MNIST file not found", "KILN_FASHION_MNIST_DIR"});
}

TEST_F(FashionMnist, CountMismatchAndBadLabel) {
  write("t10k-images-idx3-ubyte", idxBytes({2, 28, 28}, std::string(2 * 28 * 28, '\0')));
  std::string labels = write("t10k-labels-idx1-ubyte", idxBytes({3}, std::string(3, '\1')));
  expectError([&] { fm::load_test_data(dir.string()); }, labels, {"3 labels for 2 images"});
  labels = write("t10k-labels-idx1-ubyte", idxBytes({2}, std::string("\x01\x0a", 2)));
  expectError([&] { fm::load_test_data(dir.string()); }, labels, {"label 10", "outside 0..9"});
}

TEST_F(FashionMnist, WrongImageSize) {
  std::string images = write("t10k-images-idx3-ubyte", idxBytes({1, 2, 2}, "abcd"));
  write("t10k-labels-idx1-ubyte", idxBytes({1}, std::string(1, '\1')));
  expectError([&] { fm::load_test_data(dir.string()); }, images, {"expected 28x28 images"});
}

} // namespace
