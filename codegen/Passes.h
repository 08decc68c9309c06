//===- Passes.h - kiln codegen passes --------------------------------------===//
#ifndef KILN_CODEGEN_PASSES_H
#define KILN_CODEGEN_PASSES_H

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;
class TypeConverter;
namespace kiln {

#define GEN_PASS_DECL
#include "codegen/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "codegen/Passes.h.inc"

/// Patterns that rewrite kiln ops into linalg/tensor/arith/math, shared by the pass and tests.
void populateKilnToLinalgPatterns(RewritePatternSet &patterns);
/// Patterns that rewrite the ops kiln-autodiff emits (unary_grad, the conv and pool
/// gradients, broadcast_like, slice, compare, one_hot); kiln.grad itself is not lowered.
void populateKilnGradToLinalgPatterns(RewritePatternSet &patterns);

/// The row of a `rows`-row table that the scalar `index` (f32, truncated toward zero as
/// TensorFlow casts, or an integer) names, clamped to [0, rows), as an `index` value: the
/// shared rule of kiln.gather and kiln.scatter_add. A NaN reads row 0.
Value clampedRowIndex(OpBuilder &b, Location loc, Value index, int64_t rows);

} // namespace kiln
} // namespace mlir

#endif // KILN_CODEGEN_PASSES_H
