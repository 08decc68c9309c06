//===- Jit.cpp - run LLVM-dialect modules in process through ORC ----------===//
#include "codegen/Jit.h"
#include "codegen/GpuPipeline.h"

#include "kiln_gpu.h"
#include "kiln/GuardedCall.h"

#include <cstddef>
#include <cstdint>

// The mgpu* entry points of runtime/gpu/CudaRuntime.c, as MLIR's gpu-to-llvm calls them.
extern "C" {
void *mgpuModuleLoad(void *data, size_t size);
void *mgpuModuleLoadJIT(void *data, int optLevel);
void mgpuModuleUnload(void *handle);
void *mgpuModuleGetFunction(void *handle, const char *name);
void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY, intptr_t gridZ,
                      intptr_t blockX, intptr_t blockY, intptr_t blockZ, int32_t smem,
                      void *stream, void **params, void **extra, size_t paramsCount);
void *mgpuStreamCreate(void);
void mgpuStreamDestroy(void *stream);
void mgpuStreamSynchronize(void *stream);
void mgpuStreamWaitEvent(void *stream, void *event);
void *mgpuEventCreate(void);
void mgpuEventDestroy(void *event);
void mgpuEventSynchronize(void *event);
void mgpuEventRecord(void *event, void *stream);
void *mgpuMemAlloc(uint64_t bytes, void *stream, int8_t isHostShared);
void mgpuMemFree(void *ptr, void *stream);
void mgpuMemcpy(void *dst, void *src, size_t bytes, void *stream);
void mgpuMemset32(void *dst, unsigned value, size_t count, void *stream);
void mgpuMemset16(void *dst, unsigned short value, size_t count, void *stream);
void mgpuSetDefaultDevice(int32_t ordinal);
}

#include "mlir/ExecutionEngine/OptUtils.h"
#include "llvm/ExecutionEngine/Orc/Mangling.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"

#include <cstdio>
#include <cstdlib>

namespace mlir::kiln {

uint64_t JitModule::callGuarded(PackedFn fn, void **args) {
  return ::kiln::detail::callGuarded(fn, args);
}

FailureOr<std::unique_ptr<JitModule>> JitModule::create(ModuleOp module,
                                                        const PipelineOptions &options) {
  bool gpu = options.device == Device::GPU;
  if (gpu)
    prepareGpuContext(module.getContext());
  else
    prepareContext(module.getContext());
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  // The optimizer needs the target's cost model (vector widths, FMA, register count); ORC
  // compiles for the host CPU with its features.
  std::string err;
  std::unique_ptr<llvm::TargetMachine> tm = createTargetMachine(options, err);
  if (!tm)
    return module.emitError("kiln: no target for CPU '") << options.targetCpu << "': " << err;
  auto transformer = makeOptimizingTransformer(options.optLevel, /*sizeLevel=*/0, tm.get());
  ExecutionEngineOptions engineOptions;
  engineOptions.transformer = transformer;
  engineOptions.jitCodeGenOptLevel = options.optLevel == 0   ? llvm::CodeGenOptLevel::None
                                     : options.optLevel == 1 ? llvm::CodeGenOptLevel::Less
                                     : options.optLevel == 2 ? llvm::CodeGenOptLevel::Default
                                                             : llvm::CodeGenOptLevel::Aggressive;
  engineOptions.enableGDBNotificationListener = false;
  auto engine = ExecutionEngine::create(module, engineOptions);
  if (!engine) {
    std::string msg = llvm::toString(engine.takeError());
    return module.emitError("kiln: JIT compilation failed: ") << msg;
  }
  if (options.checkedAllocations)
    (*engine)->registerSymbols([](llvm::orc::MangleAndInterner interner) {
      llvm::orc::SymbolMap symbols;
      symbols[interner("_mlir_memref_to_llvm_alloc")] = {
          llvm::orc::ExecutorAddr::fromPtr(&::kiln::detail::guardedAlloc),
          llvm::JITSymbolFlags::Exported};
      symbols[interner("_mlir_memref_to_llvm_free")] = {
          llvm::orc::ExecutorAddr::fromPtr(&::kiln::detail::guardedFree),
          llvm::JITSymbolFlags::Exported};
      return symbols;
    });
  auto jit = std::unique_ptr<JitModule>(new JitModule());
  jit->engine = std::move(*engine);
  if (gpu) {
    // The host code calls kiln's CUDA runtime shim (runtime/gpu/CudaRuntime.c), linked into
    // this library; the kernels' PTX modules load from global constructors (deferred by the
    // shim to the first launch).
    jit->engine->registerSymbols([](llvm::orc::MangleAndInterner interner) {
      llvm::orc::SymbolMap map;
      auto add = [&](const char *name, auto *fn) {
        map[interner(name)] = {llvm::orc::ExecutorAddr::fromPtr(reinterpret_cast<void *>(fn)),
                               llvm::JITSymbolFlags::Exported};
      };
#define KILN_GPU_SYMBOL(name) add(#name, &name)
      KILN_GPU_SYMBOL(mgpuModuleLoad);
      KILN_GPU_SYMBOL(mgpuModuleLoadJIT);
      KILN_GPU_SYMBOL(mgpuModuleUnload);
      KILN_GPU_SYMBOL(mgpuModuleGetFunction);
      KILN_GPU_SYMBOL(mgpuLaunchKernel);
      KILN_GPU_SYMBOL(mgpuStreamCreate);
      KILN_GPU_SYMBOL(mgpuStreamDestroy);
      KILN_GPU_SYMBOL(mgpuStreamSynchronize);
      KILN_GPU_SYMBOL(mgpuStreamWaitEvent);
      KILN_GPU_SYMBOL(mgpuEventCreate);
      KILN_GPU_SYMBOL(mgpuEventDestroy);
      KILN_GPU_SYMBOL(mgpuEventSynchronize);
      KILN_GPU_SYMBOL(mgpuEventRecord);
      KILN_GPU_SYMBOL(mgpuMemAlloc);
      KILN_GPU_SYMBOL(mgpuMemFree);
      KILN_GPU_SYMBOL(mgpuMemcpy);
      KILN_GPU_SYMBOL(mgpuMemset32);
      KILN_GPU_SYMBOL(mgpuMemset16);
      KILN_GPU_SYMBOL(mgpuSetDefaultDevice);
      KILN_GPU_SYMBOL(kiln_gpu_resident_constant);
#undef KILN_GPU_SYMBOL
      return map;
    });
    jit->engine->initialize();
    jit->gpu = true;
  }
  return jit;
}

JitModule::~JitModule() {
  if (gpu)
    kiln_gpu_resident_clear();
}

LogicalResult JitModule::call(StringRef name, ArrayRef<void *> args, std::string &err) {
  std::string symbol = ("_mlir_ciface_" + name).str();
  if (llvm::Error e = engine->invokePacked(symbol, llvm::MutableArrayRef<void *>(
                                                       const_cast<void **>(args.data()),
                                                       args.size()))) {
    err = llvm::toString(std::move(e));
    return failure();
  }
  return success();
}

FailureOr<JitModule::PackedFn> JitModule::lookup(StringRef name, std::string &err) {
  auto fn = engine->lookupPacked(("_mlir_ciface_" + name).str());
  if (!fn) {
    err = llvm::toString(fn.takeError());
    return failure();
  }
  return *fn;
}
} // namespace mlir::kiln
