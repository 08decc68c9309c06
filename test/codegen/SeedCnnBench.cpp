//===- SeedCnnBench.cpp - time the seed CNN's predict through the JIT ---------===//
// Usage: kiln-seed-cnn-bench seed_cnn.mlir [batch] [--no-vectorize] [--no-fuse]
//        [--no-microkernels] [--target-cpu=NAME]
#include "codegen/Jit.h"
#include "codegen/Pipelines.h"
#include "codegen/Registration.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include "llvm/Support/SourceMgr.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

template <int R> struct Desc {
  float *allocated, *aligned;
  int64_t offset, sizes[R], strides[R];
};
template <int R> Desc<R> desc(std::vector<float> &v, std::array<int64_t, R> shape) {
  Desc<R> d{v.data(), v.data(), 0, {}, {}};
  int64_t s = 1;
  for (int i = R - 1; i >= 0; --i) {
    d.sizes[i] = shape[i];
    d.strides[i] = s;
    s *= shape[i];
  }
  return d;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s seed_cnn.mlir [batch] [--no-vectorize]\n", argv[0]);
    return 1;
  }
  int64_t batch = argc > 2 && argv[2][0] != '-' ? std::atoll(argv[2]) : 256;
  bool vectorize = true;
  mlir::kiln::PipelineOptions options;
  for (int i = 2; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--no-vectorize"))
      vectorize = false;
    else if (!std::strcmp(argv[i], "--no-fuse"))
      options.fuseImageChains = false;
    else if (!std::strcmp(argv[i], "--no-microkernels"))
      options.microkernels = false;
    else if (!std::strncmp(argv[i], "--target-cpu=", 13))
      options.targetCpu = argv[i] + 13;
  }

  mlir::DialectRegistry registry;
  mlir::kiln::registerAllKilnDialects(registry);
  mlir::MLIRContext context(registry);
  llvm::SourceMgr sm;
  auto module = mlir::parseSourceFile<mlir::ModuleOp>(argv[1], &context);
  if (!module)
    return 1;
  options.tileAndVectorize = vectorize;
  auto t0 = std::chrono::steady_clock::now();
  if (mlir::failed(mlir::kiln::lowerToStage(*module, mlir::kiln::Stage::LLVMDialect, options)))
    return 1;
  auto jit = mlir::kiln::JitModule::create(*module, options);
  if (mlir::failed(jit))
    return 1;
  auto t1 = std::chrono::steady_clock::now();

  std::mt19937 gen(0);
  std::uniform_real_distribution<float> dist(-0.1f, 0.1f);
  auto rnd = [&](size_t n) {
    std::vector<float> v(n);
    for (float &x : v)
      x = dist(gen);
    return v;
  };
  auto x = rnd(batch * 28 * 28), k1 = rnd(9 * 32), b1 = rnd(32), k2 = rnd(9 * 32 * 64),
       b2 = rnd(64), w3 = rnd(1600 * 128), b3 = rnd(128), w4 = rnd(1280), b4 = rnd(10);
  std::vector<float> y(batch * 10);
  auto dx = desc<4>(x, {batch, 28, 28, 1});
  auto dk1 = desc<4>(k1, {3, 3, 1, 32});
  auto db1 = desc<1>(b1, {32});
  auto dk2 = desc<4>(k2, {3, 3, 32, 64});
  auto db2 = desc<1>(b2, {64});
  auto dw3 = desc<2>(w3, {1600, 128});
  auto db3 = desc<1>(b3, {128});
  auto dw4 = desc<2>(w4, {128, 10});
  auto db4 = desc<1>(b4, {10});
  auto dy = desc<2>(y, {batch, 10});
  std::vector<void *> ptrs = {&dx, &dk1, &db1, &dk2, &db2, &dw3, &db3, &dw4, &db4, &dy};
  std::vector<void *> args;
  for (void *&p : ptrs)
    args.push_back(&p);
  std::string err;
  std::vector<double> ms;
  for (int i = 0; i < 23; ++i) {
    auto a = std::chrono::steady_clock::now();
    if (mlir::failed((*jit)->call("predict", args, err))) {
      std::fprintf(stderr, "call failed: %s\n", err.c_str());
      return 1;
    }
    auto b = std::chrono::steady_clock::now();
    if (i >= 3)
      ms.push_back(std::chrono::duration<double, std::milli>(b - a).count());
  }
  std::sort(ms.begin(), ms.end());
  double rowSum = 0;
  for (int j = 0; j < 10; ++j)
    rowSum += y[j];
  std::printf("seed CNN batch %lld %s: compile %.0f ms, median %.2f ms/call (min %.2f, max "
              "%.2f), softmax row sum %.6f\n",
              (long long)batch, vectorize ? "tile+vectorize" : "plain loops",
              std::chrono::duration<double, std::milli>(t1 - t0).count(), ms[ms.size() / 2],
              ms.front(), ms.back(), rowSum);
  return 0;
}
