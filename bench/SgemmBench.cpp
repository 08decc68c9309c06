//===- SgemmBench.cpp - kiln's matmul (kiln.matmul through the CPU pipeline) timed ---------===//
//
// kiln-bench-sgemm [--m M] [--n N] [--k K] [--iters I] [--check]
//
// Compiles `kiln.matmul` of (M? x K) by (K x N) (the batch dimension dynamic, as in a Dense
// layer) through kiln's CPU pipeline and the JIT, then prints `ms=<float>` per timed call on
// stdout (after 2 untimed calls) and GFLOP/s on stderr. One thread: kiln's kernels run on the
// calling thread. --check compares one call with a double-precision reference on 64 rows.
//
//===----------------------------------------------------------------------------------===//
#include "codegen/Jit.h"
#include "codegen/Pipelines.h"
#include "codegen/Registration.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

struct Desc2 {
  float *allocated, *aligned;
  int64_t offset, sizes[2], strides[2];
};

Desc2 desc(std::vector<float> &v, int64_t rows, int64_t cols) {
  return {v.data(), v.data(), 0, {rows, cols}, {cols, 1}};
}

} // namespace

int main(int argc, char **argv) {
  int64_t m = 1024, n = 1024, k = 1024, iters = 10;
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    auto next = [&]() -> int64_t {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "kiln-bench-sgemm: %s needs a value\n", argv[i]);
        std::exit(2);
      }
      return std::atoll(argv[++i]);
    };
    if (!std::strcmp(argv[i], "--m"))
      m = next();
    else if (!std::strcmp(argv[i], "--n"))
      n = next();
    else if (!std::strcmp(argv[i], "--k"))
      k = next();
    else if (!std::strcmp(argv[i], "--iters"))
      iters = next();
    else if (!std::strcmp(argv[i], "--check"))
      check = true;
    else {
      std::fprintf(stderr, "usage: kiln-bench-sgemm [--m M] [--n N] [--k K] [--iters I] "
                           "[--check]\n");
      return 2;
    }
  }
  if (m < 1 || n < 1 || k < 1 || iters < 1) {
    std::fprintf(stderr, "kiln-bench-sgemm: sizes and --iters must be positive\n");
    return 2;
  }
  std::string K = std::to_string(k), N = std::to_string(n);
  std::string source = "func.func @mm(%a: tensor<?x" + K + "xf32>, %b: tensor<" + K + "x" + N +
                       "xf32>) -> tensor<?x" + N + "xf32> {\n  %0 = kiln.matmul %a, %b : "
                       "(tensor<?x" + K + "xf32>, tensor<" + K + "x" + N + "xf32>) -> "
                       "tensor<?x" + N + "xf32>\n  return %0 : tensor<?x" + N + "xf32>\n}\n";
  mlir::DialectRegistry registry;
  mlir::kiln::registerAllKilnDialects(registry);
  mlir::MLIRContext context(registry);
  auto module = mlir::parseSourceString<mlir::ModuleOp>(source, &context);
  mlir::kiln::PipelineOptions options;
  if (!module ||
      mlir::failed(mlir::kiln::lowerToStage(*module, mlir::kiln::Stage::LLVMDialect, options))) {
    std::fprintf(stderr, "kiln-bench-sgemm: compiling the matmul failed\n");
    return 1;
  }
  auto jit = mlir::kiln::JitModule::create(*module, options);
  if (mlir::failed(jit)) {
    std::fprintf(stderr, "kiln-bench-sgemm: JIT compilation failed\n");
    return 1;
  }
  std::mt19937 gen(1);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<float> a(m * k), b(k * n), c(m * n);
  for (float &x : a)
    x = dist(gen);
  for (float &x : b)
    x = dist(gen);
  Desc2 da = desc(a, m, k), db = desc(b, k, n), dc = desc(c, m, n);
  void *ptrs[] = {&da, &db, &dc};
  void *args[] = {&ptrs[0], &ptrs[1], &ptrs[2]};
  std::vector<void *> argv_(args, args + 3);
  auto once = [&] {
    std::string err;
    if (mlir::failed((*jit)->call("mm", argv_, err))) {
      std::fprintf(stderr, "kiln-bench-sgemm: %s\n", err.c_str());
      std::exit(1);
    }
  };
  once();
  if (check) {
    double worst = 0;
    for (int64_t i = 0; i < std::min<int64_t>(m, 64); ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (int64_t p = 0; p < k; ++p)
          s += double(a[i * k + p]) * b[p * n + j];
        worst = std::max(worst, std::fabs(s - c[i * n + j]));
      }
    std::fprintf(stderr, "kiln-bench-sgemm: max |kiln - float64| on 64 rows %.3g\n", worst);
    if (worst > 1e-3 * std::sqrt(double(k)))
      return 1;
  }
  once();
  std::vector<double> ms;
  for (int64_t i = 0; i < iters; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    once();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                     .count());
    std::printf("ms=%.4f\n", ms.back());
  }
  std::sort(ms.begin(), ms.end());
  double median = ms[ms.size() / 2];
  std::fprintf(stderr, "kiln-bench-sgemm: %lldx%lldx%lld median %.3f ms, %.1f GFLOP/s\n",
               (long long)m, (long long)n, (long long)k, median,
               2.0 * m * n * k / (median * 1e6));
  return 0;
}
