//===- GradOpsTest.cpp - the training ops through the JIT vs C++ references and finite differences -===//
//
// Every op of KilnGradOps.td except kiln.grad is compiled through the full pipeline (dynamic
// batch), run on random data and compared with a plain C++ reference. unary_grad and the conv
// and pool gradients are also checked against central finite differences of the forward kiln
// op, run through the same JIT: for random directions e,
//   <dy, f(x + h e) - f(x - h e)> / 2h  ==  <grad(x, dy), e>.
//
//===----------------------------------------------------------------------===//
#include "codegen/Jit.h"
#include "codegen/Pipelines.h"
#include "codegen/Registration.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

/// The finite-difference step (f32) and the tolerance of a finite-difference check: the FD
/// value and the analytic one may differ by 2e-2 times sum_i |g_i e_i|, the size of the terms
/// of the analytic dot product (relative, but immune to cancellation in the sum).
constexpr float kStep = 1e-2f;
constexpr double kFdTolerance = 2e-2;
/// JIT against the C++ reference: 1e-4 relative to the largest reference value (at least 1);
/// the JIT's exp/tanh/erf are polynomial approximations.
constexpr double kRefTolerance = 1e-4;

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

std::vector<float> randomData(size_t n, unsigned seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float &x : v)
    x = dist(gen);
  return v;
}

struct Compiled {
  std::unique_ptr<mlir::MLIRContext> context;
  std::unique_ptr<mlir::kiln::JitModule> jit;
};

/// The pipeline variants every test runs through.
enum class Variant { Plain, Microkernels, Tiled };

Compiled compile(const std::string &source, Variant variant) {
  mlir::DialectRegistry registry;
  mlir::kiln::registerAllKilnDialects(registry);
  Compiled c;
  c.context = std::make_unique<mlir::MLIRContext>(registry);
  auto module = mlir::parseSourceString<mlir::ModuleOp>(source, c.context.get());
  EXPECT_TRUE(module) << source;
  if (!module)
    return c;
  mlir::kiln::PipelineOptions options;
  options.tileAndVectorize = variant != Variant::Plain;
  options.microkernels = variant == Variant::Microkernels;
  if (mlir::failed(mlir::kiln::lowerToStage(*module, mlir::kiln::Stage::LLVMDialect, options))) {
    ADD_FAILURE() << "lowering failed for\n" << source;
    return c;
  }
  auto jit = mlir::kiln::JitModule::create(*module, options);
  EXPECT_TRUE(mlir::succeeded(jit));
  if (mlir::succeeded(jit))
    c.jit = std::move(*jit);
  return c;
}

template <typename... D> void call(mlir::kiln::JitModule &jit, const std::string &name,
                                   D *...descs) {
  std::vector<void *> ptrs = {static_cast<void *>(descs)...};
  std::vector<void *> args;
  for (void *&p : ptrs)
    args.push_back(&p);
  std::string err;
  ASSERT_TRUE(mlir::succeeded(jit.call(name, args, err))) << err;
}

void expectNear(const std::vector<float> &got, const std::vector<double> &want,
                const std::string &what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double scale = 1.0;
  for (double w : want)
    scale = std::max(scale, std::fabs(w));
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], kRefTolerance * scale) << what << " at flat index " << i;
}

double dot(const std::vector<float> &a, const std::vector<float> &b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i)
    s += double(a[i]) * b[i];
  return s;
}

/// Checks <grad, e> against <dy, f(x + h e) - f(x - h e)> / 2h for `directions` random e, where
/// `forward(xp)` evaluates the forward op at xp.
void expectMatchesFiniteDifferences(
    const std::vector<float> &x, const std::vector<float> &dy, const std::vector<float> &grad,
    const std::function<std::vector<float>(std::vector<float> &)> &forward,
    const std::string &what, unsigned seed, int directions = 4) {
  ASSERT_EQ(x.size(), grad.size());
  for (int d = 0; d < directions; ++d) {
    std::vector<float> e = randomData(x.size(), seed * 97 + d);
    std::vector<float> xp(x), xm(x);
    for (size_t i = 0; i < x.size(); ++i) {
      xp[i] += kStep * e[i];
      xm[i] -= kStep * e[i];
    }
    std::vector<float> yp = forward(xp), ym = forward(xm);
    ASSERT_EQ(yp.size(), dy.size());
    double fd = (dot(dy, yp) - dot(dy, ym)) / (2.0 * kStep);
    double an = dot(grad, e), scale = 0;
    for (size_t i = 0; i < grad.size(); ++i)
      scale += std::fabs(double(grad[i]) * e[i]);
    EXPECT_NEAR(fd, an, kFdTolerance * scale + 1e-6) << what << ", direction " << d;
  }
}

std::string shape4(int64_t a, int64_t b, int64_t c, int64_t d, bool dynamicBatch) {
  std::ostringstream os;
  os << "tensor<" << (dynamicBatch ? std::string("?") : std::to_string(a)) << "x" << b << "x" << c
     << "x" << d << "xf32>";
  return os.str();
}

class GradOpsTest : public ::testing::TestWithParam<Variant> {};

//===----------------------------------------------------------------------===//
// unary_grad
//===----------------------------------------------------------------------===//

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

struct UnaryCase {
  const char *name;
  const char *forward;     // the forward op applied to %x, with its attributes
  const char *gradAttrs;   // unary_grad's attribute dictionary
  double (*derivative)(double);
  float lo, hi;            // x is drawn from [lo, hi]
  std::vector<double> kinks; // x stays 0.05 (> 3h) away from these
};

const double kPi = 3.14159265358979323846;

std::vector<UnaryCase> unaryCases() {
  return {
      {"relu", "kiln.relu %x", "kind = \"relu\"", [](double x) { return x > 0 ? 1.0 : 0.0; }, -2,
       2, {0}},
      {"sigmoid", "kiln.sigmoid %x", "kind = \"sigmoid\"",
       [](double x) { return sigmoid(x) * (1 - sigmoid(x)); }, -4, 4, {}},
      {"tanh", "kiln.tanh %x", "kind = \"tanh\"",
       [](double x) { return 1 - std::tanh(x) * std::tanh(x); }, -3, 3, {}},
      {"selu", "kiln.selu %x", "kind = \"selu\"",
       [](double x) { return 1.0507009873554805 * (x > 0 ? 1.0 : 1.6732632423543772 * std::exp(x)); },
       -3, 3, {0}},
      {"softplus", "kiln.softplus %x", "kind = \"softplus\"", sigmoid, -4, 4, {}},
      {"softsign", "kiln.softsign %x", "kind = \"softsign\"",
       [](double x) { return 1 / ((1 + std::fabs(x)) * (1 + std::fabs(x))); }, -3, 3, {0}},
      {"silu", "kiln.silu %x", "kind = \"silu\"",
       [](double x) { return sigmoid(x) * (1 + x * (1 - sigmoid(x))); }, -4, 4, {}},
      {"exp", "kiln.exp %x", "kind = \"exp\"", [](double x) { return std::exp(x); }, -2, 2, {}},
      {"neg", "kiln.neg %x", "kind = \"neg\"", [](double) { return -1.0; }, -2, 2, {}},
      {"log", "kiln.log %x", "kind = \"log\"", [](double x) { return 1 / x; }, 0.3f, 3, {}},
      {"sqrt", "kiln.sqrt %x", "kind = \"sqrt\"", [](double x) { return 0.5 / std::sqrt(x); },
       0.3f, 3, {}},
      {"abs", "kiln.abs %x", "kind = \"abs\"",
       [](double x) { return x > 0 ? 1.0 : x < 0 ? -1.0 : 0.0; }, -2, 2, {0}},
      {"square", "kiln.square %x", "kind = \"square\"", [](double x) { return 2 * x; }, -2, 2, {}},
      {"elu", "kiln.elu %x {alpha = 0.5 : f32}", "kind = \"elu\", alpha = 0.5 : f32",
       [](double x) { return x > 0 ? 1.0 : 0.5 * std::exp(x); }, -3, 3, {0}},
      {"leaky_relu", "kiln.leaky_relu %x {alpha = 0.1 : f32}",
       "kind = \"leaky_relu\", alpha = 0.1 : f32",
       [](double x) { return x > 0 ? 1.0 : 0.1; }, -2, 2, {0}},
      {"hard_sigmoid", "kiln.hard_sigmoid %x", "kind = \"hard_sigmoid\"",
       [](double x) {
         double y = 0.2 * x + 0.5;
         return y > 0 && y < 1 ? 0.2 : 0.0;
       },
       -4, 4, {-2.5, 2.5}},
      {"hard_sigmoid_steep", "kiln.hard_sigmoid %x {slope = 0.5 : f32, offset = 0.25 : f32}",
       "kind = \"hard_sigmoid\", slope = 0.5 : f32, offset = 0.25 : f32",
       [](double x) {
         double y = 0.5 * x + 0.25;
         return y > 0 && y < 1 ? 0.5 : 0.0;
       },
       -3, 3, {-0.5, 1.5}},
      {"gelu", "kiln.gelu %x", "kind = \"gelu\"",
       [](double x) {
         return 0.5 * (1 + std::erf(x / std::sqrt(2.0))) +
                x * std::exp(-0.5 * x * x) / std::sqrt(2 * kPi);
       },
       -4, 4, {}},
      {"gelu_tanh", "kiln.gelu %x {approximate = true}", "kind = \"gelu\", approximate = true",
       [](double x) {
         double k = std::sqrt(2 / kPi), u = k * (x + 0.044715 * x * x * x), t = std::tanh(u);
         return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x);
       },
       -4, 4, {}},
  };
}

std::vector<float> unaryInput(const UnaryCase &uc, size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(uc.lo, uc.hi);
  std::vector<float> x(n);
  for (float &v : x) {
    bool nearKink;
    do {
      v = dist(gen);
      nearKink = false;
      for (double k : uc.kinks)
        nearKink |= std::fabs(v - k) < 0.05;
    } while (nearKink);
  }
  return x;
}

TEST_P(GradOpsTest, UnaryGrad) {
  std::vector<UnaryCase> cases = unaryCases();
  std::ostringstream src;
  const char *t = "tensor<?x16xf32>";
  for (const UnaryCase &uc : cases) {
    src << "func.func @fwd_" << uc.name << "(%x: " << t << ") -> " << t << " {\n  %0 = "
        << uc.forward << " : (" << t << ") -> " << t << "\n  return %0 : " << t << "\n}\n";
    src << "func.func @grad_" << uc.name << "(%x: " << t << ", %dy: " << t << ") -> " << t
        << " {\n  %0 = kiln.unary_grad %x, %dy {" << uc.gradAttrs << "} : (" << t << ", " << t
        << ") -> " << t << "\n  return %0 : " << t << "\n}\n";
  }
  Compiled c = compile(src.str(), GetParam());
  ASSERT_TRUE(c.jit);
  unsigned seed = 1;
  for (const UnaryCase &uc : cases) {
    for (int64_t n : {1, 3}) {
      ++seed;
      std::vector<float> x = unaryInput(uc, n * 16, seed), dy = randomData(n * 16, seed + 500);
      std::vector<float> g(n * 16, -99.f);
      auto dx = desc<2>(x, {n, 16}), ddy = desc<2>(dy, {n, 16}), dg = desc<2>(g, {n, 16});
      call(*c.jit, std::string("grad_") + uc.name, &dx, &ddy, &dg);
      std::vector<double> want(x.size());
      for (size_t i = 0; i < x.size(); ++i)
        want[i] = dy[i] * uc.derivative(x[i]);
      expectNear(g, want, uc.name);
      auto forward = [&](std::vector<float> &xp) {
        std::vector<float> y(xp.size(), -99.f);
        auto dxp = desc<2>(xp, {n, 16}), dyp = desc<2>(y, {n, 16});
        call(*c.jit, std::string("fwd_") + uc.name, &dxp, &dyp);
        return y;
      };
      expectMatchesFiniteDifferences(x, dy, g, forward, uc.name, seed);
    }
  }
}

TEST_P(GradOpsTest, UnaryGradAtKinks) {
  // TensorFlow's choices: relu'(0) = 0, abs'(0) = 0, elu'(0) = alpha, leaky_relu'(0) = alpha.
  const char *src = R"mlir(
func.func @relu(%x: tensor<?x2xf32>, %dy: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %0 = kiln.unary_grad %x, %dy {kind = "relu"} : (tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<?x2xf32>
  return %0 : tensor<?x2xf32>
}
func.func @abs(%x: tensor<?x2xf32>, %dy: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %0 = kiln.unary_grad %x, %dy {kind = "abs"} : (tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<?x2xf32>
  return %0 : tensor<?x2xf32>
}
func.func @elu(%x: tensor<?x2xf32>, %dy: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %0 = kiln.unary_grad %x, %dy {kind = "elu", alpha = 0.5 : f32} : (tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<?x2xf32>
  return %0 : tensor<?x2xf32>
}
func.func @leaky(%x: tensor<?x2xf32>, %dy: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %0 = kiln.unary_grad %x, %dy {kind = "leaky_relu", alpha = 0.25 : f32} : (tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<?x2xf32>
  return %0 : tensor<?x2xf32>
}
)mlir";
  Compiled c = compile(src, GetParam());
  ASSERT_TRUE(c.jit);
  std::vector<float> x = {0.f, 0.f}, dy = {2.f, -3.f};
  auto dx = desc<2>(x, {1, 2}), ddy = desc<2>(dy, {1, 2});
  for (auto [name, want] : std::vector<std::pair<std::string, float>>{
           {"relu", 0.f}, {"abs", 0.f}, {"elu", 0.5f}, {"leaky", 0.25f}}) {
    std::vector<float> g(2, -99.f);
    auto dg = desc<2>(g, {1, 2});
    call(*c.jit, name, &dx, &ddy, &dg);
    EXPECT_FLOAT_EQ(g[0], 2.f * want) << name;
    EXPECT_FLOAT_EQ(g[1], -3.f * want) << name;
  }
}

//===----------------------------------------------------------------------===//
// Convolution gradients
//===----------------------------------------------------------------------===//

struct ConvCase {
  int64_t h, w, c, kh, kw, f, sh, sw, dh, dw;
  bool same;
};

std::string convName(const ConvCase &cc) {
  std::ostringstream os;
  os << cc.h << "x" << cc.w << "x" << cc.c << " k" << cc.kh << "x" << cc.kw << "x" << cc.f
     << " s" << cc.sh << "," << cc.sw << " d" << cc.dh << "," << cc.dw
     << (cc.same ? " same" : " valid");
  return os.str();
}

/// TensorFlow's output size and padding before, along one dimension.
std::pair<int64_t, int64_t> outAndPad(int64_t in, int64_t k, int64_t s, int64_t d, bool same) {
  int64_t eff = (k - 1) * d + 1;
  if (!same)
    return {(in - eff) / s + 1, 0};
  int64_t out = (in + s - 1) / s;
  int64_t total = std::max<int64_t>((out - 1) * s + eff - in, 0);
  return {out, total / 2};
}

TEST_P(GradOpsTest, Conv2DGrads) {
  std::vector<ConvCase> cases = {
      {5, 7, 2, 3, 3, 3, 1, 1, 1, 1, false}, // odd sizes, valid
      {5, 7, 2, 3, 3, 3, 1, 1, 1, 1, true},  // odd sizes, same
      {9, 9, 3, 3, 3, 4, 2, 2, 1, 1, true},  // stride 2, same (the seed CNN's conv)
      {8, 8, 2, 3, 3, 2, 2, 2, 1, 1, false}, // stride 2, valid: the last row is never read
      {8, 6, 2, 2, 2, 3, 2, 2, 1, 1, true},  // even kernel, same: padding only after
      {9, 8, 1, 3, 3, 2, 1, 1, 2, 2, false}, // dilation 2, valid
      {7, 9, 2, 3, 2, 2, 1, 1, 2, 2, true},  // dilation 2, same
      {9, 7, 2, 3, 3, 2, 2, 1, 1, 2, true},  // mixed strides and dilations, same
      // Channel and filter counts off the vector width: the kernel gradient's conv kernel
      // runs narrow last vectors, with the batch as its (dynamic) reduced channel.
      {8, 9, 5, 3, 3, 20, 1, 1, 1, 1, false},
      {10, 9, 3, 3, 3, 33, 2, 2, 1, 1, true},
      {9, 11, 9, 3, 2, 17, 1, 2, 2, 1, true},
  };
  unsigned seed = 100;
  for (const ConvCase &cc : cases) {
    auto [oh, pt] = outAndPad(cc.h, cc.kh, cc.sh, cc.dh, cc.same);
    auto [ow, pl] = outAndPad(cc.w, cc.kw, cc.sw, cc.dw, cc.same);
    std::string xt = shape4(0, cc.h, cc.w, cc.c, true), kt = shape4(cc.kh, cc.kw, cc.c, cc.f, false),
                yt = shape4(0, oh, ow, cc.f, true);
    std::ostringstream attrs;
    attrs << "{strides = array<i64: " << cc.sh << ", " << cc.sw << ">, dilations = array<i64: "
          << cc.dh << ", " << cc.dw << ">, padding = \"" << (cc.same ? "same" : "valid") << "\"}";
    std::ostringstream src;
    src << "func.func @fwd(%x: " << xt << ", %k: " << kt << ") -> " << yt
        << " {\n  %0 = kiln.conv2d %x, %k " << attrs.str() << " : (" << xt << ", " << kt
        << ") -> " << yt << "\n  return %0 : " << yt << "\n}\n";
    src << "func.func @gi(%dy: " << yt << ", %k: " << kt << ") -> " << xt
        << " {\n  %0 = kiln.conv2d_grad_input %dy, %k " << attrs.str() << " : (" << yt << ", "
        << kt << ") -> " << xt << "\n  return %0 : " << xt << "\n}\n";
    src << "func.func @gk(%x: " << xt << ", %dy: " << yt << ") -> " << kt
        << " {\n  %0 = kiln.conv2d_grad_kernel %x, %dy " << attrs.str() << " : (" << xt << ", "
        << yt << ") -> " << kt << "\n  return %0 : " << kt << "\n}\n";
    Compiled c = compile(src.str(), GetParam());
    ASSERT_TRUE(c.jit) << convName(cc);
    for (int64_t n : {1, 3, 7}) {
      ++seed;
      std::string what = convName(cc) + " batch " + std::to_string(n);
      int64_t xs = n * cc.h * cc.w * cc.c, ks = cc.kh * cc.kw * cc.c * cc.f,
              ys = n * oh * ow * cc.f;
      std::vector<float> x = randomData(xs, seed), k = randomData(ks, seed + 1),
                         dy = randomData(ys, seed + 2);
      std::vector<float> gx(xs, -99.f), gk(ks, -99.f);
      auto dX = desc<4>(x, {n, cc.h, cc.w, cc.c});
      auto dK = desc<4>(k, {cc.kh, cc.kw, cc.c, cc.f});
      auto dDy = desc<4>(dy, {n, oh, ow, cc.f});
      auto dGx = desc<4>(gx, {n, cc.h, cc.w, cc.c});
      auto dGk = desc<4>(gk, {cc.kh, cc.kw, cc.c, cc.f});
      call(*c.jit, "gi", &dDy, &dK, &dGx);
      call(*c.jit, "gk", &dX, &dDy, &dGk);

      std::vector<double> wantX(xs, 0.0), wantK(ks, 0.0);
      for (int64_t b = 0; b < n; ++b)
        for (int64_t i = 0; i < oh; ++i)
          for (int64_t j = 0; j < ow; ++j)
            for (int64_t p = 0; p < cc.kh; ++p)
              for (int64_t q = 0; q < cc.kw; ++q) {
                int64_t r = i * cc.sh + p * cc.dh - pt, s = j * cc.sw + q * cc.dw - pl;
                if (r < 0 || r >= cc.h || s < 0 || s >= cc.w)
                  continue;
                for (int64_t ci = 0; ci < cc.c; ++ci)
                  for (int64_t o = 0; o < cc.f; ++o) {
                    double g = dy[((b * oh + i) * ow + j) * cc.f + o];
                    int64_t xi = ((b * cc.h + r) * cc.w + s) * cc.c + ci;
                    int64_t ki = ((p * cc.kw + q) * cc.c + ci) * cc.f + o;
                    wantX[xi] += g * k[ki];
                    wantK[ki] += g * x[xi];
                  }
              }
      expectNear(gx, wantX, what + " grad_input");
      expectNear(gk, wantK, what + " grad_kernel");

      auto forwardX = [&](std::vector<float> &xp) {
        std::vector<float> y(ys, -99.f);
        auto a = desc<4>(xp, {n, cc.h, cc.w, cc.c});
        auto out = desc<4>(y, {n, oh, ow, cc.f});
        call(*c.jit, "fwd", &a, &dK, &out);
        return y;
      };
      auto forwardK = [&](std::vector<float> &kp) {
        std::vector<float> y(ys, -99.f);
        auto a = desc<4>(kp, {cc.kh, cc.kw, cc.c, cc.f});
        auto out = desc<4>(y, {n, oh, ow, cc.f});
        call(*c.jit, "fwd", &dX, &a, &out);
        return y;
      };
      expectMatchesFiniteDifferences(x, dy, gx, forwardX, what + " FD input", seed);
      expectMatchesFiniteDifferences(k, dy, gk, forwardK, what + " FD kernel", seed + 7);
    }
  }
}

/// The dense layers' weight gradient x^T @ dz: a matmul whose contracting dimension is the
/// dynamic batch, with row and column counts off the vector width.
TEST_P(GradOpsTest, MatmulOverBatch) {
  const int64_t k = 19, m = 37;
  std::ostringstream src;
  src << "func.func @dw(%x: tensor<?x" << k << "xf32>, %dz: tensor<?x" << m << "xf32>) -> tensor<"
      << k << "x" << m << "xf32> {\n"
      << "  %t = kiln.transpose %x {perm = array<i64: 1, 0>} : (tensor<?x" << k
      << "xf32>) -> tensor<" << k << "x?xf32>\n"
      << "  %0 = kiln.matmul %t, %dz : (tensor<" << k << "x?xf32>, tensor<?x" << m
      << "xf32>) -> tensor<" << k << "x" << m << "xf32>\n"
      << "  return %0 : tensor<" << k << "x" << m << "xf32>\n}\n";
  Compiled c = compile(src.str(), GetParam());
  ASSERT_TRUE(c.jit);
  unsigned seed = 200;
  for (int64_t n : {1, 7, 20}) {
    std::vector<float> x = randomData(n * k, ++seed), dz = randomData(n * m, ++seed);
    std::vector<float> dw(k * m, -99.f);
    auto dX = desc<2>(x, {n, k});
    auto dDz = desc<2>(dz, {n, m});
    auto dDw = desc<2>(dw, {k, m});
    call(*c.jit, "dw", &dX, &dDz, &dDw);
    std::vector<double> want(k * m, 0.0);
    for (int64_t b = 0; b < n; ++b)
      for (int64_t i = 0; i < k; ++i)
        for (int64_t j = 0; j < m; ++j)
          want[i * m + j] += double(x[b * k + i]) * dz[b * m + j];
    expectNear(dw, want, "x^T dz, batch " + std::to_string(n));
  }
}

// A Dense kernel's gradient on sequences against a C++ reference and finite differences of
// kiln.matmul in the kernel.
TEST_P(GradOpsTest, MatmulGradKernelOverSequences) {
  const char *src = R"mlir(
func.func @fwd(%x: tensor<?x3x4xf32>, %w: tensor<4x5xf32>) -> tensor<?x3x5xf32> {
  %0 = kiln.matmul %x, %w : (tensor<?x3x4xf32>, tensor<4x5xf32>) -> tensor<?x3x5xf32>
  return %0 : tensor<?x3x5xf32>
}
func.func @dw(%x: tensor<?x3x4xf32>, %dy: tensor<?x3x5xf32>) -> tensor<4x5xf32> {
  %0 = kiln.matmul_grad_kernel %x, %dy : (tensor<?x3x4xf32>, tensor<?x3x5xf32>) -> tensor<4x5xf32>
  return %0 : tensor<4x5xf32>
}
)mlir";
  Compiled c = compile(src, GetParam());
  ASSERT_TRUE(c.jit);
  for (int64_t n : {1, 6}) {
    std::vector<float> x = randomData(n * 12, 40 + n), dy = randomData(n * 15, 50 + n);
    std::vector<float> w = randomData(20, 60), g(20, -99.f);
    auto dX = desc<3>(x, {n, 3, 4});
    auto dDy = desc<3>(dy, {n, 3, 5});
    auto dG = desc<2>(g, {4, 5});
    call(*c.jit, "dw", &dX, &dDy, &dG);
    std::vector<double> want(20, 0.0);
    for (int64_t r = 0; r < n * 3; ++r)
      for (int64_t i = 0; i < 4; ++i)
        for (int64_t j = 0; j < 5; ++j)
          want[i * 5 + j] += double(x[r * 4 + i]) * dy[r * 5 + j];
    expectNear(g, want, "sum over batch and steps of x^T dy, batch " + std::to_string(n));
    expectMatchesFiniteDifferences(
        w, dy, g,
        [&](std::vector<float> &wp) {
          auto dW = desc<2>(wp, {4, 5});
          std::vector<float> out(n * 15);
          auto dOut = desc<3>(out, {n, 3, 5});
          call(*c.jit, "fwd", &dX, &dW, &dOut);
          return out;
        },
        "matmul_grad_kernel vs matmul", 70 + n);
  }
}

//===----------------------------------------------------------------------===//
// Pooling gradient
//===----------------------------------------------------------------------===//

struct PoolCase {
  bool max;
  int64_t h, w, c, ph, pw, sh, sw;
  bool same;
};

std::string poolName(const PoolCase &pc) {
  std::ostringstream os;
  os << (pc.max ? "max " : "avg ") << pc.h << "x" << pc.w << "x" << pc.c << " pool " << pc.ph
     << "x" << pc.pw << " s" << pc.sh << "," << pc.sw << (pc.same ? " same" : " valid");
  return os.str();
}

/// The scatter form: each window sends dy to its first maximal valid cell (max) or evenly to
/// its valid cells (avg).
std::vector<double> poolGradReference(const PoolCase &pc, int64_t n,
                                      const std::vector<float> &x,
                                      const std::vector<float> &dy) {
  auto [oh, pt] = outAndPad(pc.h, pc.ph, pc.sh, 1, pc.same);
  auto [ow, pl] = outAndPad(pc.w, pc.pw, pc.sw, 1, pc.same);
  std::vector<double> g(x.size(), 0.0);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j)
        for (int64_t ci = 0; ci < pc.c; ++ci) {
          std::vector<int64_t> cells;
          for (int64_t p = 0; p < pc.ph; ++p)
            for (int64_t q = 0; q < pc.pw; ++q) {
              int64_t r = i * pc.sh + p - pt, s = j * pc.sw + q - pl;
              if (r >= 0 && r < pc.h && s >= 0 && s < pc.w)
                cells.push_back(((b * pc.h + r) * pc.w + s) * pc.c + ci);
            }
          double d = dy[((b * oh + i) * ow + j) * pc.c + ci];
          if (pc.max) {
            int64_t best = cells[0];
            for (int64_t cell : cells)
              if (x[cell] > x[best])
                best = cell;
            g[best] += d;
          } else {
            for (int64_t cell : cells)
              g[cell] += d / double(cells.size());
          }
        }
  return g;
}

TEST_P(GradOpsTest, Pool2DGrad) {
  std::vector<PoolCase> cases = {
      {true, 4, 4, 2, 2, 2, 2, 2, false},  // the plain 2x2 max pool
      {true, 5, 7, 2, 2, 2, 2, 2, false},  // odd sizes: the last row/column is in no window
      {true, 5, 5, 2, 2, 2, 2, 2, true},   // same: padding after
      {true, 7, 6, 3, 3, 3, 2, 2, true},   // overlapping windows, padding on both sides
      {true, 5, 6, 1, 3, 2, 1, 1, true},   // stride 1, every cell in several windows
      {true, 7, 7, 1, 2, 2, 3, 3, false},  // stride > pool: cells in no window
      {false, 4, 4, 2, 2, 2, 2, 2, false},
      {false, 7, 7, 2, 3, 3, 2, 2, false}, // overlapping windows
      {false, 6, 7, 2, 3, 3, 2, 2, true},  // partial windows at the borders
      {false, 5, 5, 1, 2, 3, 1, 2, true},
      // Tiling windows (stride = pool, no padding) take the one-pass path.
      {true, 6, 4, 3, 2, 2, 2, 2, true},    // same without padding
      {true, 9, 10, 11, 3, 2, 3, 2, false}, // 3x2 windows, the last row in none
      {true, 6, 6, 17, 1, 1, 1, 1, false},  // 1x1 windows
      {false, 7, 6, 5, 2, 3, 2, 3, false},
  };
  unsigned seed = 300;
  for (const PoolCase &pc : cases) {
    auto [oh, pt] = outAndPad(pc.h, pc.ph, pc.sh, 1, pc.same);
    auto [ow, pl] = outAndPad(pc.w, pc.pw, pc.sw, 1, pc.same);
    (void)pt;
    (void)pl;
    std::string xt = shape4(0, pc.h, pc.w, pc.c, true), yt = shape4(0, oh, ow, pc.c, true);
    std::ostringstream attrs;
    attrs << "pool_size = array<i64: " << pc.ph << ", " << pc.pw << ">, strides = array<i64: "
          << pc.sh << ", " << pc.sw << ">, padding = \"" << (pc.same ? "same" : "valid") << "\"";
    std::ostringstream src;
    src << "func.func @fwd(%x: " << xt << ") -> " << yt << " {\n  %0 = kiln."
        << (pc.max ? "max_pool2d" : "avg_pool2d") << " %x {" << attrs.str() << "} : (" << xt
        << ") -> " << yt << "\n  return %0 : " << yt << "\n}\n";
    src << "func.func @grad(%x: " << xt << ", %dy: " << yt << ") -> " << xt
        << " {\n  %0 = kiln.pool2d_grad %x, %dy {kind = \"" << (pc.max ? "max" : "avg")
        << "\", " << attrs.str() << "} : (" << xt << ", " << yt << ") -> " << xt
        << "\n  return %0 : " << xt << "\n}\n";
    Compiled c = compile(src.str(), GetParam());
    ASSERT_TRUE(c.jit) << poolName(pc);
    for (int64_t n : {1, 3, 7}) {
      ++seed;
      std::string what = poolName(pc) + " batch " + std::to_string(n);
      int64_t xs = n * pc.h * pc.w * pc.c, ys = n * oh * ow * pc.c;
      // Distinct values 0.05 apart (> 2h): no perturbation changes a window's maximum.
      std::vector<float> x(xs);
      std::iota(x.begin(), x.end(), 0.f);
      std::shuffle(x.begin(), x.end(), std::mt19937(seed));
      for (float &v : x)
        v = 0.05f * v - 1.f;
      std::vector<float> dy = randomData(ys, seed + 1), g(xs, -99.f);
      auto dX = desc<4>(x, {n, pc.h, pc.w, pc.c});
      auto dDy = desc<4>(dy, {n, oh, ow, pc.c});
      auto dG = desc<4>(g, {n, pc.h, pc.w, pc.c});
      call(*c.jit, "grad", &dX, &dDy, &dG);
      expectNear(g, poolGradReference(pc, n, x, dy), what);
      auto forward = [&](std::vector<float> &xp) {
        std::vector<float> y(ys, -99.f);
        auto a = desc<4>(xp, {n, pc.h, pc.w, pc.c});
        auto out = desc<4>(y, {n, oh, ow, pc.c});
        call(*c.jit, "fwd", &a, &out);
        return y;
      };
      expectMatchesFiniteDifferences(x, dy, g, forward, what + " FD", seed);

      if (pc.max) {
        // Ties: all-equal windows send their gradient to the first cell in row-major order.
        std::vector<float> flat(xs, 0.5f), gt(xs, -99.f);
        for (int64_t i = 0; i < xs; i += 5)
          flat[i] = 0.25f; // some lower cells, so "first" is not always the window's corner
        auto dF = desc<4>(flat, {n, pc.h, pc.w, pc.c});
        auto dGt = desc<4>(gt, {n, pc.h, pc.w, pc.c});
        call(*c.jit, "grad", &dF, &dDy, &dGt);
        expectNear(gt, poolGradReference(pc, n, flat, dy), what + " ties");
      }
    }
  }
}

//===----------------------------------------------------------------------===//
// broadcast_like, slice, compare, one_hot
//===----------------------------------------------------------------------===//

TEST_P(GradOpsTest, BroadcastLikeAndSlice) {
  const char *src = R"mlir(
func.func @bias(%b: tensor<6xf32>, %x: tensor<?x6xf32>) -> tensor<?x6xf32> {
  %0 = kiln.broadcast_like %b, %x : (tensor<6xf32>, tensor<?x6xf32>) -> tensor<?x6xf32>
  return %0 : tensor<?x6xf32>
}
func.func @rows(%b: tensor<1x6xf32>, %x: tensor<?x6xf32>) -> tensor<?x6xf32> {
  %0 = kiln.broadcast_like %b, %x : (tensor<1x6xf32>, tensor<?x6xf32>) -> tensor<?x6xf32>
  return %0 : tensor<?x6xf32>
}
func.func @cols(%b: tensor<?x1xf32>, %x: tensor<?x6xf32>) -> tensor<?x6xf32> {
  %0 = kiln.broadcast_like %b, %x : (tensor<?x1xf32>, tensor<?x6xf32>) -> tensor<?x6xf32>
  return %0 : tensor<?x6xf32>
}
func.func @scalar(%s: tensor<f32>, %x: tensor<?x6xf32>) -> tensor<?x6xf32> {
  %0 = kiln.broadcast_like %s, %x : (tensor<f32>, tensor<?x6xf32>) -> tensor<?x6xf32>
  return %0 : tensor<?x6xf32>
}
func.func @slice_last(%x: tensor<?x6xf32>) -> tensor<?x3xf32> {
  %0 = kiln.slice %x {axis = -1 : i64, start = 2 : i64, size = 3 : i64} : (tensor<?x6xf32>) -> tensor<?x3xf32>
  return %0 : tensor<?x3xf32>
}
func.func @slice_batch(%x: tensor<?x6xf32>) -> tensor<2x6xf32> {
  %0 = kiln.slice %x {axis = 0 : i64, start = 1 : i64, size = 2 : i64} : (tensor<?x6xf32>) -> tensor<2x6xf32>
  return %0 : tensor<2x6xf32>
}
)mlir";
  Compiled c = compile(src, GetParam());
  ASSERT_TRUE(c.jit);
  for (int64_t n : {1, 3, 4}) {
    std::vector<float> x = randomData(n * 6, 7 + n), b = randomData(6, 8), col = randomData(n, 9),
                       s = {0.75f};
    auto dX = desc<2>(x, {n, 6});
    std::vector<float> y(n * 6, -99.f);
    auto dY = desc<2>(y, {n, 6});
    auto dB = desc<1>(b, {6});
    auto dB2 = desc<2>(b, {1, 6});
    auto dCol = desc<2>(col, {n, 1});
    Desc<0> dS{s.data(), s.data(), 0, {}, {}};
    std::vector<double> want(n * 6);

    call(*c.jit, "bias", &dB, &dX, &dY);
    for (int64_t i = 0; i < n * 6; ++i)
      want[i] = b[i % 6];
    expectNear(y, want, "broadcast (6,)");
    call(*c.jit, "rows", &dB2, &dX, &dY);
    expectNear(y, want, "broadcast (1, 6)");
    call(*c.jit, "cols", &dCol, &dX, &dY);
    for (int64_t i = 0; i < n * 6; ++i)
      want[i] = col[i / 6];
    expectNear(y, want, "broadcast (None, 1)");
    call(*c.jit, "scalar", &dS, &dX, &dY);
    for (int64_t i = 0; i < n * 6; ++i)
      want[i] = 0.75;
    expectNear(y, want, "broadcast ()");

    std::vector<float> z(n * 3, -99.f);
    auto dZ = desc<2>(z, {n, 3});
    call(*c.jit, "slice_last", &dX, &dZ);
    std::vector<double> wantZ(n * 3);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < 3; ++j)
        wantZ[i * 3 + j] = x[i * 6 + 2 + j];
    expectNear(z, wantZ, "slice last axis");
    if (n >= 3) {
      std::vector<float> r(12, -99.f);
      auto dR = desc<2>(r, {2, 6});
      call(*c.jit, "slice_batch", &dX, &dR);
      expectNear(r, std::vector<double>(x.begin() + 6, x.begin() + 18), "slice batch");
    }
  }
}

TEST_P(GradOpsTest, Compare) {
  const char *preds[] = {"eq", "ne", "lt", "le", "gt", "ge"};
  std::ostringstream src;
  for (const char *p : preds)
    src << "func.func @" << p << "(%a: tensor<?x4xf32>, %b: tensor<4xf32>) -> tensor<?x4xf32> {\n"
        << "  %0 = kiln.compare %a, %b {predicate = \"" << p
        << "\"} : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>\n"
        << "  return %0 : tensor<?x4xf32>\n}\n";
  src << "func.func @ge_scalar(%a: tensor<?x4xf32>, %b: tensor<f32>) -> tensor<?x4xf32> {\n"
      << "  %0 = kiln.compare %a, %b {predicate = \"ge\"} : (tensor<?x4xf32>, tensor<f32>) -> "
         "tensor<?x4xf32>\n  return %0 : tensor<?x4xf32>\n}\n";
  Compiled c = compile(src.str(), GetParam());
  ASSERT_TRUE(c.jit);
  for (int64_t n : {1, 3}) {
    // Values from a small set, so that equal pairs occur.
    std::vector<float> a(n * 4), b = {0.f, 1.f, -1.f, 0.5f};
    std::mt19937 gen(n);
    for (float &v : a)
      v = float(int(gen() % 5) - 2) * 0.5f;
    auto dA = desc<2>(a, {n, 4});
    auto dB = desc<1>(b, {4});
    std::vector<float> y(n * 4, -99.f);
    auto dY = desc<2>(y, {n, 4});
    for (const char *p : preds) {
      call(*c.jit, p, &dA, &dB, &dY);
      std::vector<double> want(n * 4);
      std::string ps = p;
      for (int64_t i = 0; i < n * 4; ++i) {
        float l = a[i], r = b[i % 4];
        bool holds = ps == "eq" ? l == r : ps == "ne" ? l != r : ps == "lt" ? l < r
                   : ps == "le" ? l <= r : ps == "gt" ? l > r : l >= r;
        want[i] = holds ? 1.0 : 0.0;
      }
      expectNear(y, want, ps);
    }
    std::vector<float> s = {0.f};
    Desc<0> dS{s.data(), s.data(), 0, {}, {}};
    call(*c.jit, "ge_scalar", &dA, &dS, &dY);
    std::vector<double> want(n * 4);
    for (int64_t i = 0; i < n * 4; ++i)
      want[i] = a[i] >= 0.f ? 1.0 : 0.0;
    expectNear(y, want, "ge scalar");
  }
}

TEST_P(GradOpsTest, OneHot) {
  const char *src = R"mlir(
func.func @flat(%l: tensor<?xf32>) -> tensor<?x5xf32> {
  %0 = kiln.one_hot %l {depth = 5 : i64} : (tensor<?xf32>) -> tensor<?x5xf32>
  return %0 : tensor<?x5xf32>
}
func.func @column(%l: tensor<?x1xf32>) -> tensor<?x5xf32> {
  %0 = kiln.one_hot %l {depth = 5 : i64} : (tensor<?x1xf32>) -> tensor<?x5xf32>
  return %0 : tensor<?x5xf32>
}
)mlir";
  Compiled c = compile(src, GetParam());
  ASSERT_TRUE(c.jit);
  // Labels as a loader would give them (exact and slightly off integers), and out-of-range
  // ones that must give zero rows.
  std::vector<float> labels = {0.f, 4.f, 2.f, 1.0000001f, 2.9999998f, -1.f, 5.f, 7.f, 3.f};
  int64_t n = labels.size();
  std::vector<double> want(n * 5, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    long j = std::lround(labels[i]);
    if (j >= 0 && j < 5)
      want[i * 5 + j] = 1.0;
  }
  std::vector<float> y(n * 5, -99.f);
  auto dY = desc<2>(y, {n, 5});
  auto dL1 = desc<1>(labels, {n});
  call(*c.jit, "flat", &dL1, &dY);
  expectNear(y, want, "labels (N,)");
  std::fill(y.begin(), y.end(), -99.f);
  auto dL2 = desc<2>(labels, {n, 1});
  call(*c.jit, "column", &dL2, &dY);
  expectNear(y, want, "labels (N, 1)");
}

TEST_P(GradOpsTest, GatherAndScatterAdd) {
  const char *src = R"mlir(
func.func @gather(%t: tensor<7x3xf32>, %ids: tensor<?x4xf32>) -> tensor<?x4x3xf32> {
  %0 = kiln.gather %t, %ids : (tensor<7x3xf32>, tensor<?x4xf32>) -> tensor<?x4x3xf32>
  return %0 : tensor<?x4x3xf32>
}
func.func @scatter(%ids: tensor<?x4xf32>, %dy: tensor<?x4x3xf32>) -> tensor<7x3xf32> {
  %0 = kiln.scatter_add %ids, %dy : (tensor<?x4xf32>, tensor<?x4x3xf32>) -> tensor<7x3xf32>
  return %0 : tensor<7x3xf32>
}
func.func @gather_flat(%t: tensor<7x3xf32>, %ids: tensor<?xf32>) -> tensor<?x3xf32> {
  %0 = kiln.gather %t, %ids : (tensor<7x3xf32>, tensor<?xf32>) -> tensor<?x3xf32>
  return %0 : tensor<?x3xf32>
}
)mlir";
  Compiled c = compile(src, GetParam());
  ASSERT_TRUE(c.jit);
  // Repeated rows (their gradients add up), fractions (truncated toward zero, as TensorFlow
  // casts), and indices outside [0, 7) that read the nearest row.
  std::vector<float> ids = {0.f, 3.f, 3.f, 6.f, 2.9f, 1.f, -0.5f, 3.f,
                            -2.f, 9.7f, 6.99f, 5.f};
  int64_t n = 3;
  auto rowOf = [](float v) { return std::clamp<long>(long(std::trunc(v)), 0, 6); };
  std::vector<float> table = randomData(21, 31);
  auto dT = desc<2>(table, {7, 3});
  auto dIds = desc<2>(ids, {n, 4});
  std::vector<float> y(n * 12, -99.f);
  auto dY = desc<3>(y, {n, 4, 3});
  call(*c.jit, "gather", &dT, &dIds, &dY);
  std::vector<double> want(n * 12);
  for (int64_t i = 0; i < n * 4; ++i)
    for (int64_t d = 0; d < 3; ++d)
      want[i * 3 + d] = table[rowOf(ids[i]) * 3 + d];
  expectNear(y, want, "gather");

  std::vector<float> flat(n * 4 * 3, -99.f);
  auto dFlatIds = desc<1>(ids, {n * 4});
  auto dFlat = desc<2>(flat, {n * 4, 3});
  call(*c.jit, "gather_flat", &dT, &dFlatIds, &dFlat);
  expectNear(flat, want, "gather with (N,) indices");

  std::vector<float> dy = randomData(n * 12, 32), g(21, -99.f);
  auto dDy = desc<3>(dy, {n, 4, 3});
  auto dG = desc<2>(g, {7, 3});
  call(*c.jit, "scatter", &dIds, &dDy, &dG);
  std::vector<double> wantG(21, 0.0);
  for (int64_t i = 0; i < n * 4; ++i)
    for (int64_t d = 0; d < 3; ++d)
      wantG[rowOf(ids[i]) * 3 + d] += dy[i * 3 + d];
  expectNear(g, wantG, "scatter_add");

  expectMatchesFiniteDifferences(
      table, dy, g,
      [&](std::vector<float> &tp) {
        auto dTp = desc<2>(tp, {7, 3});
        std::vector<float> out(n * 12);
        auto dOut = desc<3>(out, {n, 4, 3});
        call(*c.jit, "gather", &dTp, &dIds, &dOut);
        return out;
      },
      "scatter_add vs gather", 33);
}

INSTANTIATE_TEST_SUITE_P(TileAndVectorize, GradOpsTest,
                         ::testing::Values(Variant::Microkernels, Variant::Tiled, Variant::Plain),
                         [](const auto &info) {
                           return info.param == Variant::Microkernels ? "vectorized"
                                  : info.param == Variant::Tiled      ? "tiled"
                                                                      : "plain";
                         });

} // namespace
