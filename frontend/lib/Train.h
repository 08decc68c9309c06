//===- Train.h - compile() state shared by the training sources -----------===//
#ifndef KILN_FRONTEND_TRAIN_H
#define KILN_FRONTEND_TRAIN_H

#include "Impl.h"

#include "mlir/IR/OwningOpRef.h"

namespace kiln::detail {

/// @train_step and @eval_step for `m` with `t`'s loss and optimizer.
mlir::OwningOpRef<mlir::ModuleOp> emitTraining(const ModelImpl &m, const Training &t,
                                               mlir::MLIRContext &ctx);

} // namespace kiln::detail

#endif // KILN_FRONTEND_TRAIN_H
