//===- ShapeFunctions.h - shape rules of kiln ops, shared by verifiers and frontend -===//
#ifndef KILN_IR_SHAPEFUNCTIONS_H
#define KILN_IR_SHAPEFUNCTIONS_H

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/Support/LLVM.h"
#include "llvm/ADT/SmallVector.h"
#include <string>

namespace mlir::kiln {

/// A static shape in which `kDynamic` marks an unknown dimension (the batch).
using Shape = llvm::SmallVector<int64_t, 4>;
inline constexpr int64_t kDynamic = ShapedType::kDynamic;

/// Keras' way of printing a shape: `(None, 28, 28, 1)`.
std::string formatShape(ArrayRef<int64_t> shape);

/// Each function returns the result shape of an op, or failure with `err` set to a sentence
/// that names both shapes (the caller adds the op or layer name in front).
FailureOr<Shape> inferBroadcastShape(ArrayRef<int64_t> lhs, ArrayRef<int64_t> rhs,
                                     std::string &err);
FailureOr<Shape> inferMatmulShape(ArrayRef<int64_t> lhs, ArrayRef<int64_t> rhs,
                                  std::string &err);
FailureOr<Shape> inferConv2DShape(ArrayRef<int64_t> input, ArrayRef<int64_t> kernel,
                                  ArrayRef<int64_t> strides, ArrayRef<int64_t> dilations,
                                  StringRef padding, std::string &err);
FailureOr<Shape> inferPool2DShape(ArrayRef<int64_t> input, ArrayRef<int64_t> poolSize,
                                  ArrayRef<int64_t> strides, StringRef padding,
                                  std::string &err);
FailureOr<Shape> inferReshapeShape(ArrayRef<int64_t> input, ArrayRef<int64_t> shape,
                                   std::string &err);
FailureOr<Shape> inferTransposeShape(ArrayRef<int64_t> input, ArrayRef<int64_t> perm,
                                     std::string &err);
/// Zero padding: `low[i]` and `high[i]` cells added before and after dimension `i`.
FailureOr<Shape> inferPadShape(ArrayRef<int64_t> input, ArrayRef<int64_t> low,
                               ArrayRef<int64_t> high, std::string &err);
FailureOr<Shape> inferConcatShape(ArrayRef<Shape> inputs, int64_t axis, std::string &err);
/// kiln.gather: a `(V, D)` table read at indices of shape `S` gives `S x (D)`.
FailureOr<Shape> inferGatherShape(ArrayRef<int64_t> table, ArrayRef<int64_t> indices,
                                  std::string &err);
FailureOr<Shape> inferReduceShape(ArrayRef<int64_t> input, ArrayRef<int64_t> axes,
                                  bool keepdims, std::string &err);
/// Checks that `axis` (negative counts from the end) names a dimension of a rank-`rank` tensor
/// and returns it as a non-negative index.
FailureOr<int64_t> normalizeAxis(int64_t axis, int64_t rank, std::string &err);

/// Output length of a conv / pool window along one dimension (kDynamic stays kDynamic).
int64_t windowOutputSize(int64_t in, int64_t window, int64_t stride, int64_t dilation,
                         bool same);
/// TensorFlow's "same" padding split: (before, after) for one dimension.
std::pair<int64_t, int64_t> samePadding(int64_t in, int64_t window, int64_t stride,
                                        int64_t dilation);

/// Whether an inferred type and a declared type may describe the same value: equal element
/// types, and either one unranked or equal ranks with no two static dims that differ.
bool areCompatibleTensorTypes(Type inferred, Type declared);

} // namespace mlir::kiln

#endif // KILN_IR_SHAPEFUNCTIONS_H
