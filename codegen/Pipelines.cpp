//===- Pipelines.cpp - the compile pipelines from kiln to LLVM --------------===//
#include "codegen/Pipelines.h"
#include "codegen/Passes.h"
#include "passes/Passes.h"

#include "mlir/Pass/PassRegistry.h"

namespace mlir::kiln {

std::optional<Stage> parseStage(StringRef name) {
  return llvm::StringSwitch<std::optional<Stage>>(name)
      .Case("kiln", Stage::Kiln)
      .Case("linalg", Stage::Linalg)
      .Case("llvm-dialect", Stage::LLVMDialect)
      .Case("llvm-ir", Stage::LLVMIR)
      .Case("asm", Stage::Asm)
      .Case("obj", Stage::Obj)
      .Default(std::nullopt);
}

void buildKilnToLinalgPipeline(OpPassManager &pm, const PipelineOptions &options) {}
void buildLinalgToLLVMPipeline(OpPassManager &pm, const PipelineOptions &options) {}
void registerKilnPipelines() {}
LogicalResult lowerToStage(ModuleOp module, Stage stage, const PipelineOptions &options) {
  return failure();
}
FailureOr<std::string> translateModule(ModuleOp module, Stage stage,
                                       const PipelineOptions &options) {
  return failure();
}
} // namespace mlir::kiln
