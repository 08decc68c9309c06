//===- Registration.cpp - register every kiln dialect, pass and pipeline ---===//
#include "codegen/Registration.h"
#include "codegen/Passes.h"
#include "codegen/GpuPipeline.h"
#include "codegen/Pipelines.h"
#include "ir/KilnOps.h"
#include "passes/Passes.h"

#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"

namespace mlir::kiln {
void registerAllKilnDialects(DialectRegistry &registry) {
  registry.insert<KilnDialect>();
  // The upstream dialects with their external interface models (bufferization, tiling,
  // value bounds), which the codegen pipelines need whoever made the context.
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  registerGpuTranslations(registry);
}

void registerAllKilnPasses() {
  registerKilnPasses();
  registerKilnCodegenPasses();
  registerKilnPipelines();
  registerKilnGpuPipeline();
}
} // namespace mlir::kiln
