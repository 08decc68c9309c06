//===- JitTest.cpp - kiln modules through the full pipeline and the JIT vs C++ references -===//
#include "codegen/Jit.h"
#include "codegen/Pipelines.h"
#include "codegen/Registration.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>
#include <vector>

namespace {

/// A ranked memref descriptor as the C interface passes it.
template <int R> struct Desc {
  float *allocated;
  float *aligned;
  int64_t offset;
  int64_t sizes[R];
  int64_t strides[R];
};

template <int R> Desc<R> desc(std::vector<float> &data, std::array<int64_t, R> shape) {
  Desc<R> d{data.data(), data.data(), 0, {}, {}};
  int64_t stride = 1;
  for (int i = R - 1; i >= 0; --i) {
    d.sizes[i] = shape[i];
    d.strides[i] = stride;
    stride *= shape[i];
  }
  return d;
}

std::vector<float> randomData(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<float> v(n);
  for (float &x : v)
    x = dist(gen);
  return v;
}

const char *kModule = R"mlir(
func.func @dense(%x: tensor<?x5xf32>, %w: tensor<5x3xf32>, %b: tensor<3xf32>) -> tensor<?x3xf32> {
  %0 = kiln.matmul %x, %w : (tensor<?x5xf32>, tensor<5x3xf32>) -> tensor<?x3xf32>
  %1 = kiln.add %0, %b : (tensor<?x3xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  %2 = kiln.relu %1 : (tensor<?x3xf32>) -> tensor<?x3xf32>
  return %2 : tensor<?x3xf32>
}
func.func @conv(%x: tensor<?x9x9x2xf32>, %k: tensor<3x3x2x4xf32>) -> tensor<?x5x5x4xf32> {
  %0 = kiln.conv2d %x, %k {strides = array<i64: 2, 2>, padding = "same"}
      : (tensor<?x9x9x2xf32>, tensor<3x3x2x4xf32>) -> tensor<?x5x5x4xf32>
  return %0 : tensor<?x5x5x4xf32>
}
func.func @soft(%x: tensor<?x6xf32>) -> tensor<?x6xf32> {
  %0 = kiln.softmax %x {axis = -1 : i64} : (tensor<?x6xf32>) -> tensor<?x6xf32>
  return %0 : tensor<?x6xf32>
}
)mlir";

struct Compiled {
  std::unique_ptr<mlir::MLIRContext> context;
  std::unique_ptr<mlir::kiln::JitModule> jit;
};

Compiled compile(const std::string &source, bool vectorize) {
  mlir::DialectRegistry registry;
  mlir::kiln::registerAllKilnDialects(registry);
  Compiled c;
  c.context = std::make_unique<mlir::MLIRContext>(registry);
  auto module = mlir::parseSourceString<mlir::ModuleOp>(source, c.context.get());
  EXPECT_TRUE(module);
  mlir::kiln::PipelineOptions options;
  options.tileAndVectorize = vectorize;
  EXPECT_TRUE(mlir::succeeded(
      mlir::kiln::lowerToStage(*module, mlir::kiln::Stage::LLVMDialect, options)));
  auto jit = mlir::kiln::JitModule::create(*module, options);
  EXPECT_TRUE(mlir::succeeded(jit));
  if (mlir::succeeded(jit))
    c.jit = std::move(*jit);
  return c;
}

void expectNear(const std::vector<float> &got, const std::vector<float> &want) {
  ASSERT_EQ(got.size(), want.size());
  float scale = 1.f;
  for (float w : want)
    scale = std::max(scale, std::fabs(w));
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 1e-5f * scale) << "at flat index " << i;
}

template <typename... D> void call(mlir::kiln::JitModule &jit, const char *name, D *...descs) {
  std::vector<void *> ptrs = {static_cast<void *>(descs)...};
  std::vector<void *> args;
  for (void *&p : ptrs)
    args.push_back(&p);
  std::string err;
  ASSERT_TRUE(mlir::succeeded(jit.call(name, args, err))) << err;
}

class JitTest : public ::testing::TestWithParam<bool> {};

TEST_P(JitTest, DenseRelu) {
  Compiled c = compile(kModule, GetParam());
  ASSERT_TRUE(c.jit);
  for (int64_t n : {1, 7}) {
    auto x = randomData(n * 5, 1), w = randomData(15, 2), b = randomData(3, 3);
    std::vector<float> y(n * 3, -99.f), want(n * 3);
    for (int64_t i = 0; i < n; ++i)
      for (int j = 0; j < 3; ++j) {
        float s = b[j];
        for (int k = 0; k < 5; ++k)
          s += x[i * 5 + k] * w[k * 3 + j];
        want[i * 3 + j] = std::max(s, 0.f);
      }
    auto dx = desc<2>(x, {n, 5});
    auto dw = desc<2>(w, {5, 3});
    auto db = desc<1>(b, {3});
    auto dy = desc<2>(y, {n, 3});
    call(*c.jit, "dense", &dx, &dw, &db, &dy);
    expectNear(y, want);
  }
}

/// TensorFlow "same" convolution, NHWC x HWIO.
std::vector<float> convReference(const std::vector<float> &x, const std::vector<float> &k,
                                 int64_t n, int64_t h, int64_t w, int64_t c, int64_t kh,
                                 int64_t kw, int64_t f, int64_t stride) {
  int64_t oh = (h + stride - 1) / stride, ow = (w + stride - 1) / stride;
  int64_t padH = std::max<int64_t>((oh - 1) * stride + kh - h, 0) / 2;
  int64_t padW = std::max<int64_t>((ow - 1) * stride + kw - w, 0) / 2;
  std::vector<float> y(n * oh * ow * f, 0.f);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j)
        for (int64_t o = 0; o < f; ++o) {
          float s = 0.f;
          for (int64_t di = 0; di < kh; ++di)
            for (int64_t dj = 0; dj < kw; ++dj) {
              int64_t r = i * stride + di - padH, q = j * stride + dj - padW;
              if (r < 0 || r >= h || q < 0 || q >= w)
                continue;
              for (int64_t ci = 0; ci < c; ++ci)
                s += x[((b * h + r) * w + q) * c + ci] * k[((di * kw + dj) * c + ci) * f + o];
            }
          y[((b * oh + i) * ow + j) * f + o] = s;
        }
  return y;
}

TEST_P(JitTest, Conv2DSameStride2) {
  Compiled c = compile(kModule, GetParam());
  ASSERT_TRUE(c.jit);
  for (int64_t n : {1, 7}) {
    auto x = randomData(n * 9 * 9 * 2, 4), k = randomData(3 * 3 * 2 * 4, 5);
    std::vector<float> y(n * 5 * 5 * 4, -99.f);
    auto dx = desc<4>(x, {n, 9, 9, 2});
    auto dk = desc<4>(k, {3, 3, 2, 4});
    auto dy = desc<4>(y, {n, 5, 5, 4});
    call(*c.jit, "conv", &dx, &dk, &dy);
    expectNear(y, convReference(x, k, n, 9, 9, 2, 3, 3, 4, 2));
  }
}

TEST_P(JitTest, Softmax) {
  Compiled c = compile(kModule, GetParam());
  ASSERT_TRUE(c.jit);
  for (int64_t n : {1, 7}) {
    auto x = randomData(n * 6, 6);
    x[0] = 80.f; // exp(80) overflows f32 without the max shift
    std::vector<float> y(n * 6, -99.f), want(n * 6);
    for (int64_t i = 0; i < n; ++i) {
      float m = -INFINITY, s = 0.f;
      for (int j = 0; j < 6; ++j)
        m = std::max(m, x[i * 6 + j]);
      for (int j = 0; j < 6; ++j)
        s += std::exp(x[i * 6 + j] - m);
      for (int j = 0; j < 6; ++j)
        want[i * 6 + j] = std::exp(x[i * 6 + j] - m) / s;
    }
    auto dx = desc<2>(x, {n, 6});
    auto dy = desc<2>(y, {n, 6});
    call(*c.jit, "soft", &dx, &dy);
    expectNear(y, want);
  }
}

long residentKiB() {
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0;
  statm >> size >> resident;
  return resident * 4;
}

TEST_P(JitTest, RepeatedCallsDoNotLeak) {
  Compiled c = compile(kModule, GetParam());
  ASSERT_TRUE(c.jit);
  int64_t n = 7;
  auto x = randomData(n * 9 * 9 * 2, 4), k = randomData(3 * 3 * 2 * 4, 5);
  std::vector<float> y(n * 5 * 5 * 4);
  auto dx = desc<4>(x, {n, 9, 9, 2});
  auto dk = desc<4>(k, {3, 3, 2, 4});
  auto dy = desc<4>(y, {n, 5, 5, 4});
  for (int i = 0; i < 200; ++i)
    call(*c.jit, "conv", &dx, &dk, &dy);
  long before = residentKiB();
  // Each call allocates a padded input of ~7 KiB: 20000 leaked ones would be ~130 MiB.
  for (int i = 0; i < 20000; ++i)
    call(*c.jit, "conv", &dx, &dk, &dy);
  EXPECT_LT(residentKiB() - before, 8 * 1024);
}

INSTANTIATE_TEST_SUITE_P(TileAndVectorize, JitTest, ::testing::Values(true, false),
                         [](const auto &info) { return info.param ? "vectorized" : "plain"; });

} // namespace
