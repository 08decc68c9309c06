//===- Emit.h - a kiln::Model as kiln-dialect MLIR ------------------------===//
//
// For tools and tests that work on the IR: needs MLIR's headers (the rest of the C++ API does
// not).
//
//===----------------------------------------------------------------------===//
#ifndef KILN_EMIT_H
#define KILN_EMIT_H

#include "kiln/Model.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

namespace kiln {

/// The model's `func.func @predict` (inputs, then weights in get_weights() order; outputs as
/// results) in a new module in `context`, every op located at its Keras layer's name. Loads the
/// dialects it uses into `context`.
mlir::OwningOpRef<mlir::ModuleOp> toMLIR(const Model &model, mlir::MLIRContext &context);

} // namespace kiln

#endif // KILN_EMIT_H
