//===- Registration.cpp - register every kiln dialect, pass and pipeline ---===//
#include "codegen/Registration.h"
#include "codegen/Passes.h"
#include "codegen/Pipelines.h"
#include "ir/KilnOps.h"
#include "passes/Passes.h"

namespace mlir::kiln {
void registerAllKilnDialects(DialectRegistry &registry) { registry.insert<KilnDialect>(); }

void registerAllKilnPasses() {
  registerKilnPasses();
  registerKilnCodegenPasses();
  registerKilnPipelines();
}
} // namespace mlir::kiln
