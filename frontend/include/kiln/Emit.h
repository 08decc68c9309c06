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

/// The shapes of the targets fit compiles a compiled model's steps for by default: each
/// output's shape, or (None) for sparse_categorical_crossentropy's integer labels.
std::vector<std::vector<int64_t>> default_target_shapes(const Model &model);

/// `@grad_step`, `@apply_step` and `@eval_step` of a compiled model for targets of
/// `targetShapes` (batch -1): the module fit compiles through the JIT, in `context` (made with
/// every kiln dialect registered).
mlir::OwningOpRef<mlir::ModuleOp>
trainingMLIR(const Model &model, const std::vector<std::vector<int64_t>> &targetShapes,
             mlir::MLIRContext &context);

/// What a standalone trainer embeds (runtime/train/TrainerMain.cpp): `description`, the JSON
/// of kiln/TrainerSpec.h with the model's Keras and training configs, interface and layers;
/// `data`, the weights (get_weights() order) then, unless they are compile()'s fresh ones, the
/// optimizer's slots, as float32.
struct TrainerParts {
  std::string description, data;
};
TrainerParts trainer_parts(const Model &model,
                           const std::vector<std::vector<int64_t>> &targetShapes);

} // namespace kiln

#endif // KILN_EMIT_H
