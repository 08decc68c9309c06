//===- Jit.cpp - run LLVM-dialect modules in process through ORC ----------===//
#include "codegen/Jit.h"

#include "mlir/ExecutionEngine/OptUtils.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"

namespace mlir::kiln {
FailureOr<std::unique_ptr<JitModule>> JitModule::create(ModuleOp module,
                                                        const PipelineOptions &options) {
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
  auto jit = std::unique_ptr<JitModule>(new JitModule());
  jit->engine = std::move(*engine);
  return jit;
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
