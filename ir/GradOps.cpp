//===- GradOps.cpp - verifiers of the ops training adds ---------------------===//
#include "ir/KilnOps.h"
#include "ir/ShapeFunctions.h"

using namespace mlir;
using namespace mlir::kiln;

namespace {

ArrayRef<int64_t> shapeOf(Value v) { return cast<RankedTensorType>(v.getType()).getShape(); }
bool ranked(Value v) { return isa<RankedTensorType>(v.getType()); }

/// Same rank, and every dimension equal where both are known.
bool compatible(ArrayRef<int64_t> a, ArrayRef<int64_t> b) {
  if (a.size() != b.size())
    return false;
  for (auto [x, y] : llvm::zip(a, b))
    if (!ShapedType::isDynamic(x) && !ShapedType::isDynamic(y) && x != y)
      return false;
  return true;
}

LogicalResult expectShape(Operation *op, StringRef what, Value v, ArrayRef<int64_t> want) {
  if (!ranked(v) || compatible(shapeOf(v), want))
    return success();
  return emitKilnOpError(op->getLoc(), op->getName().stripDialect(),
                         what + " has shape " + formatShape(shapeOf(v)) + ", expected " +
                             formatShape(want));
}

LogicalResult fail(Operation *op, const Twine &msg) {
  return emitKilnOpError(op->getLoc(), op->getName().stripDialect(), msg);
}

} // namespace

LogicalResult GradOp::verify() {
  auto loss = cast<TensorType>(getLoss().getType());
  if (loss.hasRank() && loss.getRank() != 0)
    return fail(*this, "the loss must be a rank-0 tensor, got " + formatShape(loss.getShape()));
  if (getGrads().size() != getWrt().size())
    return fail(*this, "has " + Twine(getWrt().size()) + " values to differentiate by but " +
                           Twine(getGrads().size()) + " results");
  for (auto [w, g] : llvm::zip(getWrt(), getGrads()))
    if (w.getType() != g.getType())
      return fail(*this, "each result must have the type of its value");
  return success();
}

LogicalResult UnaryGradOp::verify() {
  static const char *kinds[] = {"relu",  "sigmoid", "tanh", "selu", "softplus",  "softsign",
                                "silu",  "exp",     "neg",  "log",  "sqrt",      "abs",
                                "square", "elu",    "leaky_relu", "hard_sigmoid", "gelu"};
  if (llvm::find(kinds, getKind()) == std::end(kinds))
    return fail(*this, "unknown kind \"" + getKind() + "\"");
  // Without a ranked input, the grad (when ranked) gives the shape the result must have.
  if (ranked(getInput()))
    return failure(failed(expectShape(*this, "grad", getGrad(), shapeOf(getInput()))) ||
                   failed(expectShape(*this, "result", getResult(), shapeOf(getInput()))));
  if (ranked(getGrad()))
    return expectShape(*this, "result", getResult(), shapeOf(getGrad()));
  return success();
}

LogicalResult Conv2DGradInputOp::verify() {
  if (!ranked(getGrad()) || !ranked(getKernel()) || !ranked(getResult()))
    return success();
  auto dy = shapeOf(getGrad()), k = shapeOf(getKernel()), x = shapeOf(getResult());
  if (dy.size() != 4 || k.size() != 4 || x.size() != 4)
    return fail(*this, "grad, kernel and result must have rank 4");
  if (!ShapedType::isDynamic(x[3]) && !ShapedType::isDynamic(k[2]) && x[3] != k[2])
    return fail(*this, "result has " + Twine(x[3]) + " channels, the kernel " + Twine(k[2]));
  std::string err;
  auto out = inferConv2DShape(x, k, getStrides(), getDilations(), getPadding(), err);
  if (failed(out))
    return fail(*this, err);
  return expectShape(*this, "grad", getGrad(), *out);
}

LogicalResult Conv2DGradKernelOp::verify() {
  if (!ranked(getInput()) || !ranked(getGrad()) || !ranked(getResult()))
    return success();
  auto x = shapeOf(getInput()), k = shapeOf(getResult());
  if (x.size() != 4 || k.size() != 4 || shapeOf(getGrad()).size() != 4)
    return fail(*this, "input, grad and result must have rank 4");
  if (!cast<RankedTensorType>(getResult().getType()).hasStaticShape())
    return fail(*this, "the kernel shape must be static");
  std::string err;
  auto out = inferConv2DShape(x, k, getStrides(), getDilations(), getPadding(), err);
  if (failed(out))
    return fail(*this, err);
  return expectShape(*this, "grad", getGrad(), *out);
}

LogicalResult MatmulGradKernelOp::verify() {
  if (!ranked(getInput()) || !ranked(getGrad()) || !ranked(getResult()))
    return success();
  auto x = shapeOf(getInput()), dy = shapeOf(getGrad()), k = shapeOf(getResult());
  if (x.size() < 3)
    return fail(*this, "expected an input of rank 3 or more, got " + formatShape(x));
  if (k.size() != 2 || ShapedType::isDynamic(k[0]) || ShapedType::isDynamic(k[1]))
    return fail(*this, "the result must be a static (in, units) kernel, got " + formatShape(k));
  std::string err;
  auto out = inferMatmulShape(x, k, err);
  if (failed(out))
    return fail(*this, err);
  return expectShape(*this, "grad", getGrad(), *out);
}

LogicalResult Pool2DGradOp::verify() {
  if (getKind() != "max" && getKind() != "avg")
    return fail(*this, "kind must be \"max\" or \"avg\", got \"" + getKind() + "\"");
  if (!ranked(getInput()))
    return success();
  std::string err;
  auto out = inferPool2DShape(shapeOf(getInput()), getPoolSize(), getStrides(), getPadding(),
                              err);
  if (failed(out))
    return fail(*this, err);
  if (failed(expectShape(*this, "grad", getGrad(), *out)))
    return failure();
  return expectShape(*this, "result", getResult(), shapeOf(getInput()));
}

LogicalResult BroadcastLikeOp::verify() {
  if (!ranked(getInput()) || !ranked(getLike()))
    return success();
  std::string err;
  auto out = inferBroadcastShape(shapeOf(getInput()), shapeOf(getLike()), err);
  if (failed(out))
    return fail(*this, err);
  if (!compatible(*out, shapeOf(getLike())))
    return fail(*this, "input " + formatShape(shapeOf(getInput())) +
                           " does not broadcast to " + formatShape(shapeOf(getLike())));
  return expectShape(*this, "result", getResult(), shapeOf(getLike()));
}

LogicalResult SliceOp::verify() {
  if (!ranked(getInput()))
    return success();
  auto in = shapeOf(getInput());
  std::string err;
  auto axis = normalizeAxis(static_cast<int64_t>(getAxis()), in.size(), err);
  if (failed(axis))
    return fail(*this, err);
  int64_t start = static_cast<int64_t>(getStart()), size = static_cast<int64_t>(getSize());
  if (start < 0 || size <= 0 || (!ShapedType::isDynamic(in[*axis]) && start + size > in[*axis]))
    return fail(*this, "slice [" + Twine(start) + ", " + Twine(start + size) +
                           ") is out of range for dimension " + Twine(*axis) + " of " +
                           formatShape(in));
  Shape out(in);
  out[*axis] = size;
  return expectShape(*this, "result", getResult(), out);
}

LogicalResult ScatterAddOp::verify() {
  if (!ranked(getIndices()) || !ranked(getGrad()) || !ranked(getResult()))
    return success();
  auto table = shapeOf(getResult());
  if (table.size() != 2 || ShapedType::isDynamic(table[0]) || ShapedType::isDynamic(table[1]))
    return fail(*this, "the result must be a static (rows, features) table, got " +
                           formatShape(table));
  std::string err;
  auto out = inferGatherShape(table, shapeOf(getIndices()), err);
  if (failed(out))
    return fail(*this, err);
  return expectShape(*this, "grad", getGrad(), *out);
}

LogicalResult CompareOp::verify() {
  static const char *preds[] = {"eq", "ne", "lt", "le", "gt", "ge"};
  if (llvm::find(preds, getPredicate()) == std::end(preds))
    return fail(*this, "unknown predicate \"" + getPredicate() + "\"");
  if (!ranked(getLhs()) || !ranked(getRhs()))
    return success();
  std::string err;
  auto out = inferBroadcastShape(shapeOf(getLhs()), shapeOf(getRhs()), err);
  if (failed(out))
    return fail(*this, err);
  return expectShape(*this, "result", getResult(), *out);
}

LogicalResult OneHotOp::verify() {
  if (static_cast<int64_t>(getDepth()) <= 0)
    return fail(*this, "depth must be positive, got " + Twine(static_cast<int64_t>(getDepth())));
  if (!ranked(getInput()))
    return success();
  auto in = shapeOf(getInput());
  if (!(in.size() == 1 || (in.size() == 2 && in[1] == 1)))
    return fail(*this, "labels must have shape (N) or (N, 1), got " + formatShape(in));
  return expectShape(*this, "result", getResult(), {in[0], static_cast<int64_t>(getDepth())});
}
