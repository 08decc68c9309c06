//===- Predict.cpp - compile a model once, run it on batches in process ----===//
#include "Impl.h"
#include "kiln_gpu.h"

#include "kiln/Callbacks.h"
#include "kiln/Sequence.h"

#include "codegen/Jit.h"
#include "codegen/Pipelines.h"
#include "codegen/Registration.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>

namespace kiln {
namespace detail {

mlir::OwningOpRef<mlir::ModuleOp> emitPredict(const ModelImpl &m, mlir::MLIRContext &ctx);
void buildSequentialFor(ModelImpl &m, const Shape &sampleShape);


std::unique_ptr<mlir::MLIRContext> newContext() {
  mlir::DialectRegistry registry;
  mlir::kiln::registerAllKilnDialects(registry);
  auto ctx = std::make_unique<mlir::MLIRContext>(registry);
  ctx->disableMultithreading();
  return ctx;
}

void compileModule(Compiled &c, mlir::ModuleOp module, const std::string &model, bool gpu,
                   const std::string &diagnostics) {
  mlir::kiln::PipelineOptions options;
  if (gpu)
    options.device = mlir::kiln::Device::GPU;
  options.checkedAllocations = true; // run through JitModule::callGuarded (callPacked)
  // For measuring what fusion saves (bench/); not an option of the Keras-shaped API.
  if (const char *off = std::getenv("KILN_NO_FUSION"); off && *off && std::string(off) != "0")
    options.fusion = false;
  if (mlir::failed(mlir::kiln::lowerToStage(module, mlir::kiln::Stage::LLVMDialect, options)))
    throw Error(model, "compiling to native code failed:" + diagnostics);
  auto jit = mlir::kiln::JitModule::create(module, options);
  if (mlir::failed(jit))
    throw Error(model, "JIT compilation failed:" + diagnostics);
  c.jit = std::move(*jit);
  auto find = [&](const char *name) -> void (*)(void **) {
    std::string err;
    auto fn = c.jit->lookup(name, err);
    return mlir::failed(fn) ? nullptr : *fn;
  };
  c.predict = find("predict");
  c.gradStep = find("grad_step");
  c.applyStep = find("apply_step");
  c.evalStep = find("eval_step");
}

void checkGpu(const std::string &model) {
  if (kiln_gpu_status() != KILN_GPU_OK)
    throw Error(model, std::string("the GPU failed: ") + kiln_gpu_error_message());
}


namespace {

std::shared_ptr<Compiled> compilePredict(const ModelImpl &m) {
  auto c = std::make_shared<Compiled>();
  c->context = newContext();
  std::string diagnostics;
  llvm::raw_string_ostream os(diagnostics);
  mlir::ScopedDiagnosticHandler handler(c->context.get(), [&](mlir::Diagnostic &d) {
    os << "\n  " << d;
    return mlir::success();
  });
  auto module = emitPredict(m, *c->context);
  compileModule(*c, *module, m.name, m.gpu, diagnostics);
  if (!c->predict)
    throw Error(m.name, "the compiled code has no predict entry point");
  return c;
}

} // namespace
} // namespace detail

using namespace detail;

std::vector<Array> Model::predict(const std::vector<Array> &xs, PredictOptions options) const {
  ModelImpl &m = *impl;
  if (m.sequential && !m.isBuilt() && xs.size() == 1 && xs[0].rank() >= 2)
    buildSequentialFor(m, Shape(xs[0].shape.begin() + 1, xs[0].shape.end()));
  ensureBuilt();
  if (xs.size() != m.inputs.size())
    throw Error(m.name, "predict got " + std::to_string(xs.size()) + " input arrays, the model has " +
                            std::to_string(m.inputs.size()) + " inputs");
  if (options.batch_size <= 0)
    throw Error(m.name, "batch_size must be positive, got " + std::to_string(options.batch_size));
  int64_t n = -1;
  for (size_t i = 0; i < xs.size(); ++i) {
    const Shape &want = m.inputs[i]->shape;
    bool ok = xs[i].rank() == static_cast<int64_t>(want.size());
    for (size_t d = 1; ok && d < want.size(); ++d)
      ok = xs[i].shape[d] == want[d];
    if (!ok)
      throw Error(m.inputs[i]->layer->name, "expected input of shape " + shapeString(want) +
                                                ", got an array of shape " +
                                                shapeString(xs[i].shape));
    if (n >= 0 && xs[i].shape[0] != n)
      throw Error(m.name, "inputs have different batch sizes: " + std::to_string(n) + " and " +
                              std::to_string(xs[i].shape[0]));
    n = xs[i].shape[0];
  }
  checkEmbeddingIndices(m, xs);

  std::vector<Array> ys;
  for (const auto &out : m.outputs) {
    Shape s = out->shape;
    s[0] = n;
    try {
      ys.emplace_back(s);
    } catch (const std::exception &e) { // out of memory, or a shape past int64
      throw Error(out->layer->name, std::string("predict cannot allocate its output: ") + e.what());
    }
  }
  if (n == 0)
    return ys;
  if (!m.compiled)
    m.compiled = compilePredict(m);
  Compiled &c = *m.compiled;

  // Weights once; inputs and outputs per slice of rows.
  std::vector<Descriptor> weightDescs;
  for (Weight *w : m.allWeights())
    weightDescs.emplace_back(w->value.ptr(), w->value.shape);

  auto run = [&](int64_t begin, int64_t end) {
    std::vector<Descriptor> descs;
    auto slice = [&](const float *base, Shape shape) {
      int64_t row = Array::numElements(shape) / shape[0];
      shape[0] = end - begin;
      descs.emplace_back(base + begin * row, shape);
    };
    for (const Array &x : xs)
      slice(x.ptr(), x.shape);
    for (const Descriptor &d : weightDescs)
      descs.push_back(d);
    for (Array &y : ys)
      slice(y.ptr(), y.shape);
    callPacked(c.predict, descs, m.name, "predict", end - begin);
  };

  // The user's callbacks, and a ProgbarLogger when verbose, as Keras' predict has them.
  std::vector<std::shared_ptr<Callback>> cbs = options.callbacks;
  if (options.verbose > 0 &&
      std::none_of(cbs.begin(), cbs.end(), [](const auto &cb) {
        return dynamic_cast<callbacks::ProgbarLogger *>(cb.get()) != nullptr;
      }))
    cbs.push_back(std::make_shared<callbacks::ProgbarLogger>("steps"));
  int64_t steps = (n + options.batch_size - 1) / options.batch_size;
  for (const auto &cb : cbs) {
    cb->model = const_cast<Model *>(this);
    cb->params = {.verbose = options.verbose, .epochs = 1, .steps = steps, .samples = n,
                  .batch_size = options.batch_size};
  }
  Logs logs;
  for (const auto &cb : cbs)
    cb->on_predict_begin(logs);

  int threads = m.gpu ? 1 : threadCount(options.threads); // one stream of GPU calls
  for (int64_t start = 0; start < n; start += options.batch_size) {
    int64_t end = std::min(n, start + options.batch_size);
    int64_t step = start / options.batch_size;
    // Keras passes the batch's outputs in the logs; kiln's Logs hold numbers: they stay empty.
    logs.clear();
    for (const auto &cb : cbs)
      cb->on_predict_batch_begin(step, logs);

    // Split a batch across threads when each gets enough rows to pay for the thread.
    int64_t parts = std::min<int64_t>(threads, (end - start) / 16);
    if (parts <= 1) {
      run(start, end);
    } else {
      std::vector<std::thread> workers;
      std::vector<std::exception_ptr> errors(parts);
      int64_t per = (end - start + parts - 1) / parts;
      for (int64_t p = 1; p < parts; ++p) {
        int64_t b = start + p * per, e = std::min(end, b + per);
        if (b < e)
          workers.emplace_back([&, p, b, e] {
            try {
              run(b, e);
            } catch (...) {
              errors[p] = std::current_exception();
            }
          });
      }
      try {
        run(start, std::min(end, start + per));
      } catch (...) {
        errors[0] = std::current_exception();
      }
      joinAll(workers, errors);
    }
    if (m.gpu)
      checkGpu(m.name);
    for (const auto &cb : cbs)
      cb->on_predict_batch_end(step, logs);
  }
  logs.clear();
  for (const auto &cb : cbs)
    cb->on_predict_end(logs);
  return ys;
}

Array Model::predict(utils::Sequence &sequence, PredictOptions options) const {
  const ModelImpl &m = *impl;
  if (m.inputs.size() != 1 || m.outputs.size() != 1)
    throw Error(m.name, "predict over a utils::Sequence takes one input and one output");
  std::vector<Array> parts;
  int64_t rows = 0;
  PredictOptions each = options;
  each.verbose = 0;
  each.callbacks.clear();
  for (const auto &cb : options.callbacks)
    cb->model = const_cast<Model *>(this);
  Logs logs;
  for (const auto &cb : options.callbacks)
    cb->on_predict_begin(logs);
  for (int64_t i = 0; i < sequence.size(); ++i) {
    logs.clear();
    for (const auto &cb : options.callbacks)
      cb->on_predict_batch_begin(i, logs);
    Array x = sequence.get(i).first;
    each.batch_size = std::max<int64_t>(1, x.shape.empty() ? 1 : x.shape[0]);
    parts.push_back(predict(x, each));
    rows += parts.back().shape[0];
    for (const auto &cb : options.callbacks)
      cb->on_predict_batch_end(i, logs);
  }
  logs.clear();
  for (const auto &cb : options.callbacks)
    cb->on_predict_end(logs);
  Shape s = m.outputs[0]->shape;
  s[0] = rows;
  Array out(s);
  int64_t at = 0;
  for (const Array &p : parts) {
    std::copy(p.data.begin(), p.data.end(), out.data.begin() + at);
    at += p.size();
  }
  return out;
}

Array Model::predict(const Array &x, PredictOptions options) const {
  if (impl->isBuilt() && impl->outputs.size() != 1)
    throw Error(impl->name, "the model has " + std::to_string(impl->outputs.size()) +
                                " outputs; call predict with a std::vector of inputs to get "
                                "them all");
  auto ys = predict(std::vector<Array>{x}, options);
  return std::move(ys[0]);
}

std::string Model::mlir() const {
  if (impl->sequential && !impl->isBuilt())
    ensureBuilt();
  auto ctx = newContext();
  auto module = emitPredict(*impl, *ctx);
  std::string s;
  llvm::raw_string_ostream os(s);
  module->print(os);
  return s;
}

} // namespace kiln
