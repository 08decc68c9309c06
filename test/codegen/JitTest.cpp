//===- JitTest.cpp - kiln modules through the full pipeline and the JIT vs C++ references -===//
#include "codegen/Jit.h"
#include "codegen/Pipelines.h"
#include "codegen/Registration.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>
#include <thread>
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

/// The CPU pipeline's variants: the default (fused image chains, register-blocked kernels),
/// tile-and-vectorize with vector.contract for matmul/conv, and plain loops.
/// KernelsAvx2 tunes for an AVX2 CPU (x86-64-v3: kernels of 8-lane vectors), which this
/// host runs too.
enum class Mode { Kernels, KernelsAvx2, Contract, Plain };

Compiled compile(const std::string &source, Mode mode) {
  mlir::DialectRegistry registry;
  mlir::kiln::registerAllKilnDialects(registry);
  Compiled c;
  c.context = std::make_unique<mlir::MLIRContext>(registry);
  auto module = mlir::parseSourceString<mlir::ModuleOp>(source, c.context.get());
  EXPECT_TRUE(module);
  mlir::kiln::PipelineOptions options;
  options.tileAndVectorize = mode != Mode::Plain;
  options.fuseImageChains = options.microkernels =
      mode == Mode::Kernels || mode == Mode::KernelsAvx2;
  if (mode == Mode::KernelsAvx2)
    options.targetCpu = "x86-64-v3";
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

class JitTest : public ::testing::TestWithParam<Mode> {};

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

/// TensorFlow convolution, NHWC x HWIO, "same" or "valid" padding, with dilation.
std::vector<float> convReference(const std::vector<float> &x, const std::vector<float> &k,
                                 int64_t n, int64_t h, int64_t w, int64_t c, int64_t kh,
                                 int64_t kw, int64_t f, int64_t stride, bool same = true,
                                 int64_t dilation = 1) {
  int64_t ekh = (kh - 1) * dilation + 1, ekw = (kw - 1) * dilation + 1;
  int64_t oh = same ? (h + stride - 1) / stride : (h - ekh) / stride + 1;
  int64_t ow = same ? (w + stride - 1) / stride : (w - ekw) / stride + 1;
  int64_t padH = same ? std::max<int64_t>((oh - 1) * stride + ekh - h, 0) / 2 : 0;
  int64_t padW = same ? std::max<int64_t>((ow - 1) * stride + ekw - w, 0) / 2 : 0;
  std::vector<float> y(n * oh * ow * f, 0.f);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j)
        for (int64_t o = 0; o < f; ++o) {
          float s = 0.f;
          for (int64_t di = 0; di < kh; ++di)
            for (int64_t dj = 0; dj < kw; ++dj) {
              int64_t r = i * stride + di * dilation - padH, q = j * stride + dj * dilation - padW;
              if (r < 0 || r >= h || q < 0 || q >= w)
                continue;
              for (int64_t ci = 0; ci < c; ++ci)
                s += x[((b * h + r) * w + q) * c + ci] * k[((di * kw + dj) * c + ci) * f + o];
            }
          y[((b * oh + i) * ow + j) * f + o] = s;
        }
  return y;
}

/// y[b, i, j, c] += bias[c], then relu, in place (NHWC or NC).
void biasRelu(std::vector<float> &y, const std::vector<float> &bias) {
  for (size_t i = 0; i < y.size(); ++i)
    y[i] = std::max(y[i] + bias[i % bias.size()], 0.f);
}

/// "valid" max pooling with a square window and stride `p`.
std::vector<float> maxPoolReference(const std::vector<float> &x, int64_t n, int64_t h,
                                    int64_t w, int64_t c, int64_t p) {
  int64_t oh = h / p, ow = w / p;
  std::vector<float> y(n * oh * ow * c, -INFINITY);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j)
        for (int64_t o = 0; o < c; ++o)
          for (int64_t di = 0; di < p; ++di)
            for (int64_t dj = 0; dj < p; ++dj) {
              float &v = y[((b * oh + i) * ow + j) * c + o];
              v = std::max(v, x[((b * h + i * p + di) * w + j * p + dj) * c + o]);
            }
  return y;
}

/// x (n x k) times w (k x m).
std::vector<float> matmulReference(const std::vector<float> &x, const std::vector<float> &w,
                                   int64_t n, int64_t k, int64_t m) {
  std::vector<float> y(n * m, 0.f);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j) {
      float s = 0.f;
      for (int64_t l = 0; l < k; ++l)
        s += x[i * k + l] * w[l * m + j];
      y[i * m + j] = s;
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
#ifdef KILN_SANITIZED
  // ASan parks freed blocks in its quarantine (up to 256 MiB) instead of reusing them, so resident
  // memory grows here without a leak; in that build LeakSanitizer checks for leaks at exit.
  constexpr long kAllowedKiB = 320 * 1024;
#else
  constexpr long kAllowedKiB = 8 * 1024;
#endif
  EXPECT_LT(residentKiB() - before, kAllowedKiB);
}

/// Two threads call one compiled function at once on their own buffers (different batch
/// sizes): the generated code keeps no state between calls.
TEST_P(JitTest, ConcurrentCallsAreIndependent) {
  Compiled c = compile(kModule, GetParam());
  ASSERT_TRUE(c.jit);
  std::string err;
  auto fn = c.jit->lookup("conv", err);
  ASSERT_TRUE(mlir::succeeded(fn)) << err;
  auto run = [&](int64_t n, unsigned seed, std::vector<float> &y, std::vector<float> &want) {
    auto x = randomData(n * 9 * 9 * 2, seed), k = randomData(3 * 3 * 2 * 4, seed + 1);
    want = convReference(x, k, n, 9, 9, 2, 3, 3, 4, 2);
    y.assign(n * 5 * 5 * 4, -99.f);
    auto dx = desc<4>(x, {n, 9, 9, 2});
    auto dk = desc<4>(k, {3, 3, 2, 4});
    auto dy = desc<4>(y, {n, 5, 5, 4});
    void *ptrs[] = {&dx, &dk, &dy};
    void *args[] = {&ptrs[0], &ptrs[1], &ptrs[2]};
    for (int i = 0; i < 200; ++i)
      (*fn)(args);
  };
  std::vector<float> y1, want1, y2, want2;
  std::thread t1([&] { run(9, 31, y1, want1); });
  std::thread t2([&] { run(17, 41, y2, want2); });
  t1.join();
  t2.join();
  expectNear(y1, want1);
  expectNear(y2, want2);
}

// Shapes that do not fill the register tiles: channel and filter counts that are not
// multiples of the vector length, dilation, "same" padding, a fused conv -> bias -> relu ->
// pool chain with odd sizes, a matmul with K and N off the tile sizes, and batch sizes that
// leave a remainder of the 8-row matmul blocks.
const char *kShapesModule = R"mlir(
func.func @conv_dilated(%x: tensor<?x10x10x3xf32>, %k: tensor<3x3x3x20xf32>) -> tensor<?x6x6x20xf32> {
  %0 = kiln.conv2d %x, %k {dilations = array<i64: 2, 2>}
      : (tensor<?x10x10x3xf32>, tensor<3x3x3x20xf32>) -> tensor<?x6x6x20xf32>
  return %0 : tensor<?x6x6x20xf32>
}
func.func @conv_wide(%x: tensor<?x5x30x3xf32>, %k: tensor<2x2x3x136xf32>) -> tensor<?x4x29x136xf32> {
  %0 = kiln.conv2d %x, %k : (tensor<?x5x30x3xf32>, tensor<2x2x3x136xf32>) -> tensor<?x4x29x136xf32>
  return %0 : tensor<?x4x29x136xf32>
}
func.func @conv_chain(%x: tensor<?x12x11x5xf32>, %k: tensor<3x3x5x37xf32>, %b: tensor<37xf32>)
    -> tensor<?x6x5x37xf32> {
  %0 = kiln.conv2d %x, %k {padding = "same"}
      : (tensor<?x12x11x5xf32>, tensor<3x3x5x37xf32>) -> tensor<?x12x11x37xf32>
  %1 = kiln.add %0, %b : (tensor<?x12x11x37xf32>, tensor<37xf32>) -> tensor<?x12x11x37xf32>
  %2 = kiln.relu %1 : (tensor<?x12x11x37xf32>) -> tensor<?x12x11x37xf32>
  %3 = kiln.max_pool2d %2 {pool_size = array<i64: 2, 2>, strides = array<i64: 2, 2>}
      : (tensor<?x12x11x37xf32>) -> tensor<?x6x5x37xf32>
  return %3 : tensor<?x6x5x37xf32>
}
func.func @dense_odd(%x: tensor<?x13xf32>, %w: tensor<13x37xf32>, %b: tensor<37xf32>) -> tensor<?x37xf32> {
  %0 = kiln.matmul %x, %w : (tensor<?x13xf32>, tensor<13x37xf32>) -> tensor<?x37xf32>
  %1 = kiln.add %0, %b : (tensor<?x37xf32>, tensor<37xf32>) -> tensor<?x37xf32>
  %2 = kiln.relu %1 : (tensor<?x37xf32>) -> tensor<?x37xf32>
  return %2 : tensor<?x37xf32>
}
func.func @seed(%x: tensor<?x28x28x1xf32>,
                %k1: tensor<3x3x1x32xf32>, %b1: tensor<32xf32>,
                %k2: tensor<3x3x32x64xf32>, %b2: tensor<64xf32>,
                %w3: tensor<1600x128xf32>, %b3: tensor<128xf32>,
                %w4: tensor<128x10xf32>, %b4: tensor<10xf32>) -> tensor<?x10xf32> {
  %0 = kiln.conv2d %x, %k1 : (tensor<?x28x28x1xf32>, tensor<3x3x1x32xf32>) -> tensor<?x26x26x32xf32>
  %1 = kiln.add %0, %b1 : (tensor<?x26x26x32xf32>, tensor<32xf32>) -> tensor<?x26x26x32xf32>
  %2 = kiln.relu %1 : (tensor<?x26x26x32xf32>) -> tensor<?x26x26x32xf32>
  %3 = kiln.max_pool2d %2 {pool_size = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<?x26x26x32xf32>) -> tensor<?x13x13x32xf32>
  %4 = kiln.conv2d %3, %k2 : (tensor<?x13x13x32xf32>, tensor<3x3x32x64xf32>) -> tensor<?x11x11x64xf32>
  %5 = kiln.add %4, %b2 : (tensor<?x11x11x64xf32>, tensor<64xf32>) -> tensor<?x11x11x64xf32>
  %6 = kiln.relu %5 : (tensor<?x11x11x64xf32>) -> tensor<?x11x11x64xf32>
  %7 = kiln.max_pool2d %6 {pool_size = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<?x11x11x64xf32>) -> tensor<?x5x5x64xf32>
  %8 = kiln.reshape %7 {shape = array<i64: -1>} : (tensor<?x5x5x64xf32>) -> tensor<?x1600xf32>
  %9 = kiln.matmul %8, %w3 : (tensor<?x1600xf32>, tensor<1600x128xf32>) -> tensor<?x128xf32>
  %10 = kiln.add %9, %b3 : (tensor<?x128xf32>, tensor<128xf32>) -> tensor<?x128xf32>
  %11 = kiln.relu %10 : (tensor<?x128xf32>) -> tensor<?x128xf32>
  %12 = kiln.matmul %11, %w4 : (tensor<?x128xf32>, tensor<128x10xf32>) -> tensor<?x10xf32>
  %13 = kiln.add %12, %b4 : (tensor<?x10xf32>, tensor<10xf32>) -> tensor<?x10xf32>
  %14 = kiln.softmax %13 {axis = -1 : i64} : (tensor<?x10xf32>) -> tensor<?x10xf32>
  return %14 : tensor<?x10xf32>
}
)mlir";

TEST_P(JitTest, Conv2DDilatedOddChannels) {
  Compiled c = compile(kShapesModule, GetParam());
  ASSERT_TRUE(c.jit);
  for (int64_t n : {1, 7, 9}) {
    auto x = randomData(n * 10 * 10 * 3, 7), k = randomData(3 * 3 * 3 * 20, 8);
    std::vector<float> y(n * 6 * 6 * 20, -99.f);
    auto dx = desc<4>(x, {n, 10, 10, 3});
    auto dk = desc<4>(k, {3, 3, 3, 20});
    auto dy = desc<4>(y, {n, 6, 6, 20});
    call(*c.jit, "conv_dilated", &dx, &dk, &dy);
    expectNear(y, convReference(x, k, n, 10, 10, 3, 3, 3, 20, 1, /*same=*/false, 2));
  }
}

// 136 filters: two full chunks of 4 vectors (a loop) and a chunk of 8 lanes; 29 output
// columns: a loop over full pixel blocks and a remainder block.
TEST_P(JitTest, Conv2DManyFilters) {
  Compiled c = compile(kShapesModule, GetParam());
  ASSERT_TRUE(c.jit);
  for (int64_t n : {1, 3}) {
    auto x = randomData(n * 5 * 30 * 3, 15), k = randomData(2 * 2 * 3 * 136, 16);
    std::vector<float> y(n * 4 * 29 * 136, -99.f);
    auto dx = desc<4>(x, {n, 5, 30, 3});
    auto dk = desc<4>(k, {2, 2, 3, 136});
    auto dy = desc<4>(y, {n, 4, 29, 136});
    call(*c.jit, "conv_wide", &dx, &dk, &dy);
    expectNear(y, convReference(x, k, n, 5, 30, 3, 2, 2, 136, 1, /*same=*/false));
  }
}

TEST_P(JitTest, ConvBiasReluPoolChain) {
  Compiled c = compile(kShapesModule, GetParam());
  ASSERT_TRUE(c.jit);
  for (int64_t n : {1, 7, 17}) {
    auto x = randomData(n * 12 * 11 * 5, 9), k = randomData(3 * 3 * 5 * 37, 10),
         b = randomData(37, 11);
    std::vector<float> y(n * 6 * 5 * 37, -99.f);
    auto dx = desc<4>(x, {n, 12, 11, 5});
    auto dk = desc<4>(k, {3, 3, 5, 37});
    auto db = desc<1>(b, {37});
    auto dy = desc<4>(y, {n, 6, 5, 37});
    call(*c.jit, "conv_chain", &dx, &dk, &db, &dy);
    auto want = convReference(x, k, n, 12, 11, 5, 3, 3, 37, 1);
    biasRelu(want, b);
    expectNear(y, maxPoolReference(want, n, 12, 11, 37, 2));
  }
}

TEST_P(JitTest, DenseOddSizes) {
  Compiled c = compile(kShapesModule, GetParam());
  ASSERT_TRUE(c.jit);
  for (int64_t n : {1, 7, 8, 9, 257}) {
    auto x = randomData(n * 13, 12), w = randomData(13 * 37, 13), b = randomData(37, 14);
    std::vector<float> y(n * 37, -99.f);
    auto dx = desc<2>(x, {n, 13});
    auto dw = desc<2>(w, {13, 37});
    auto db = desc<1>(b, {37});
    auto dy = desc<2>(y, {n, 37});
    call(*c.jit, "dense_odd", &dx, &dw, &db, &dy);
    auto want = matmulReference(x, w, n, 13, 37);
    biasRelu(want, b);
    expectNear(y, want);
  }
}

TEST_P(JitTest, SeedCnn) {
  Compiled c = compile(kShapesModule, GetParam());
  ASSERT_TRUE(c.jit);
  auto k1 = randomData(9 * 32, 21), b1 = randomData(32, 22), k2 = randomData(9 * 32 * 64, 23),
       b2 = randomData(64, 24), w3 = randomData(1600 * 128, 25), b3 = randomData(128, 26),
       w4 = randomData(128 * 10, 27), b4 = randomData(10, 28);
  for (float *v : {k2.data()})
    for (size_t i = 0; i < k2.size(); ++i)
      v[i] *= 0.2f; // keeps the activations O(1)
  for (float &v : w3)
    v *= 0.05f;
  for (int64_t n : {1, 7, 257}) {
    auto x = randomData(n * 28 * 28, 20);
    std::vector<float> y(n * 10, -99.f);
    auto dx = desc<4>(x, {n, 28, 28, 1});
    auto dk1 = desc<4>(k1, {3, 3, 1, 32});
    auto db1 = desc<1>(b1, {32});
    auto dk2 = desc<4>(k2, {3, 3, 32, 64});
    auto db2 = desc<1>(b2, {64});
    auto dw3 = desc<2>(w3, {1600, 128});
    auto db3 = desc<1>(b3, {128});
    auto dw4 = desc<2>(w4, {128, 10});
    auto db4 = desc<1>(b4, {10});
    auto dy = desc<2>(y, {n, 10});
    call(*c.jit, "seed", &dx, &dk1, &db1, &dk2, &db2, &dw3, &db3, &dw4, &db4, &dy);

    auto a = convReference(x, k1, n, 28, 28, 1, 3, 3, 32, 1, /*same=*/false);
    biasRelu(a, b1);
    a = maxPoolReference(a, n, 26, 26, 32, 2);
    a = convReference(a, k2, n, 13, 13, 32, 3, 3, 64, 1, /*same=*/false);
    biasRelu(a, b2);
    a = maxPoolReference(a, n, 11, 11, 64, 2);
    a = matmulReference(a, w3, n, 1600, 128);
    biasRelu(a, b3);
    a = matmulReference(a, w4, n, 128, 10);
    for (int64_t i = 0; i < n; ++i) {
      float m = -INFINITY, s = 0.f;
      for (int j = 0; j < 10; ++j)
        m = std::max(m, a[i * 10 + j] += b4[j]);
      for (int j = 0; j < 10; ++j)
        s += std::exp(a[i * 10 + j] - m);
      for (int j = 0; j < 10; ++j)
        a[i * 10 + j] = std::exp(a[i * 10 + j] - m) / s;
    }
    expectNear(y, a);
  }
}

INSTANTIATE_TEST_SUITE_P(TileAndVectorize, JitTest,
                         ::testing::Values(Mode::Kernels, Mode::KernelsAvx2, Mode::Contract,
                                           Mode::Plain),
                         [](const auto &info) {
                           return info.param == Mode::Kernels       ? "vectorized"
                                  : info.param == Mode::KernelsAvx2 ? "avx2"
                                  : info.param == Mode::Contract    ? "contract"
                                                                    : "plain";
                         });

TEST(JitTargetTest, UnknownCpuIsAnError) {
  mlir::DialectRegistry registry;
  mlir::kiln::registerAllKilnDialects(registry);
  mlir::MLIRContext context(registry);
  auto module = mlir::parseSourceString<mlir::ModuleOp>(kModule, &context);
  ASSERT_TRUE(module);
  mlir::kiln::PipelineOptions options;
  options.targetCpu = "no-such-cpu";
  std::string diagnostics;
  mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic &d) {
    diagnostics += d.str();
    return mlir::success();
  });
  ASSERT_TRUE(mlir::succeeded(
      mlir::kiln::lowerToStage(*module, mlir::kiln::Stage::LLVMDialect, options)));
  EXPECT_TRUE(mlir::failed(mlir::kiln::JitModule::create(*module, options)));
  EXPECT_NE(diagnostics.find("no-such-cpu"), std::string::npos) << diagnostics;
}

} // namespace
