//===- Registration.h - register every kiln dialect, pass and pipeline -----===//
#ifndef KILN_CODEGEN_REGISTRATION_H
#define KILN_CODEGEN_REGISTRATION_H

#include "mlir/IR/DialectRegistry.h"

namespace mlir::kiln {
/// Adds the kiln dialect and the upstream dialects kiln lowers into.
void registerAllKilnDialects(DialectRegistry &registry);
/// Registers kiln's passes (flags `kiln-*`) and pipelines.
void registerAllKilnPasses();
} // namespace mlir::kiln

#endif // KILN_CODEGEN_REGISTRATION_H
