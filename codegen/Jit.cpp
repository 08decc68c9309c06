//===- Jit.cpp - run LLVM-dialect modules in process through ORC ----------===//
#include "codegen/Jit.h"

namespace mlir::kiln {
FailureOr<std::unique_ptr<JitModule>> JitModule::create(ModuleOp module,
                                                        const PipelineOptions &options) {
  return failure();
}
LogicalResult JitModule::call(StringRef name, ArrayRef<void *> args, std::string &err) {
  return failure();
}
} // namespace mlir::kiln
