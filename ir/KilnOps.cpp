//===- KilnOps.cpp - kiln dialect registration, type inference, folders ---===//
#include "ir/KilnOps.h"
#include "ir/ShapeFunctions.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/Support/Format.h"

using namespace mlir;
using namespace mlir::kiln;

#include "ir/KilnDialect.cpp.inc"

void KilnDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "ir/KilnOps.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// Diagnostics
//===----------------------------------------------------------------------===//

std::optional<StringRef> mlir::kiln::getLayerName(Location loc) {
  if (auto name = loc->findInstanceOf<NameLoc>())
    return name.getName().getValue();
  return std::nullopt;
}

LogicalResult mlir::kiln::emitKilnOpError(std::optional<Location> loc, StringRef opName,
                                          const Twine &message) {
  if (!loc)
    return failure();
  InFlightDiagnostic diag = mlir::emitError(*loc) << "'kiln." << opName << "' op ";
  if (std::optional<StringRef> layer = getLayerName(*loc))
    diag << "layer '" << *layer << "': ";
  return diag << message.str();
}

//===----------------------------------------------------------------------===//
// Type inference helpers
//===----------------------------------------------------------------------===//

namespace {
/// Builds a tensor type of `shape` with the element type of `like`.
Type tensorLike(Value like, ArrayRef<int64_t> shape) {
  return RankedTensorType::get(shape, cast<TensorType>(like.getType()).getElementType());
}

Type unrankedLike(Value like) {
  return UnrankedTensorType::get(cast<TensorType>(like.getType()).getElementType());
}

bool allRanked(ValueRange values) {
  return llvm::all_of(values, [](Value v) { return cast<TensorType>(v.getType()).hasRank(); });
}

/// `0.5`, `1.5`, `1e-05`: a number as a Keras user would write it.
std::string formatFloat(float x) {
  std::string s;
  llvm::raw_string_ostream(s) << llvm::format("%g", static_cast<double>(x));
  return s;
}

ArrayRef<int64_t> shapeOf(Value v) { return cast<RankedTensorType>(v.getType()).getShape(); }

/// Appends the result of a shape function, or reports its message at `loc`.
LogicalResult finish(std::optional<Location> loc, StringRef opName, Value like,
                     FailureOr<Shape> shape, const std::string &err,
                     SmallVectorImpl<Type> &inferred) {
  if (failed(shape))
    return emitKilnOpError(loc, opName, err);
  inferred.push_back(tensorLike(like, *shape));
  return success();
}

/// Element types must agree across operands of ops that mix tensors.
LogicalResult sameElementTypes(std::optional<Location> loc, StringRef opName,
                               ValueRange values) {
  for (Value v : values.drop_front())
    if (cast<TensorType>(v.getType()).getElementType() !=
        cast<TensorType>(values[0].getType()).getElementType())
      return emitKilnOpError(loc, opName, "requires the same element type for all operands");
  return success();
}
} // namespace

#define KILN_COMPATIBLE(OP)                                                                \
  bool OP::isCompatibleReturnTypes(TypeRange l, TypeRange r) {                             \
    return l.size() == r.size() &&                                                         \
           llvm::all_of(llvm::zip(l, r), [](auto p) {                                      \
             return areCompatibleTensorTypes(std::get<0>(p), std::get<1>(p));              \
           });                                                                             \
  }

// Elementwise unary ops keep the operand's type.
#define KILN_UNARY(OP)                                                                     \
  LogicalResult OP::inferReturnTypes(MLIRContext *, std::optional<Location>,               \
                                     OP::Adaptor adaptor, SmallVectorImpl<Type> &inferred) { \
    inferred.push_back(adaptor.getInput().getType());                                      \
    return success();                                                                      \
  }                                                                                        \
  KILN_COMPATIBLE(OP)

KILN_UNARY(ReluOp)
KILN_UNARY(SigmoidOp)
KILN_UNARY(TanhOp)
KILN_UNARY(SeluOp)
KILN_UNARY(SoftplusOp)
KILN_UNARY(SoftsignOp)
KILN_UNARY(SiluOp)
KILN_UNARY(ExpOp)
KILN_UNARY(NegOp)
KILN_UNARY(LogOp)
KILN_UNARY(SqrtOp)
KILN_UNARY(AbsOp)
KILN_UNARY(SquareOp)
KILN_UNARY(EluOp)
KILN_UNARY(LeakyReluOp)
KILN_UNARY(HardSigmoidOp)
KILN_UNARY(GeluOp)
KILN_UNARY(DropoutOp)

LogicalResult RandomNormalOp::inferReturnTypes(MLIRContext *, std::optional<Location>,
                                               Adaptor adaptor,
                                               SmallVectorImpl<Type> &inferred) {
  inferred.push_back(adaptor.getLike().getType());
  return success();
}
KILN_COMPATIBLE(RandomNormalOp)

LogicalResult SoftmaxOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                          Adaptor adaptor, SmallVectorImpl<Type> &inferred) {
  auto type = cast<TensorType>(adaptor.getInput().getType());
  if (type.hasRank()) {
    std::string err;
    if (failed(normalizeAxis(adaptor.getAxis(), type.getRank(), err)))
      return emitKilnOpError(loc, "softmax", err);
  }
  inferred.push_back(type);
  return success();
}
KILN_COMPATIBLE(SoftmaxOp)

#define KILN_BINARY(OP, NAME)                                                              \
  LogicalResult OP::inferReturnTypes(MLIRContext *, std::optional<Location> loc,           \
                                     OP::Adaptor adaptor, SmallVectorImpl<Type> &inferred) { \
    ValueRange operands = adaptor.getOperands();                                           \
    if (failed(sameElementTypes(loc, NAME, operands)))                                     \
      return failure();                                                                    \
    if (!allRanked(operands)) {                                                            \
      inferred.push_back(unrankedLike(adaptor.getLhs()));                                  \
      return success();                                                                    \
    }                                                                                      \
    std::string err;                                                                       \
    return finish(loc, NAME, adaptor.getLhs(),                                             \
                  inferBroadcastShape(shapeOf(adaptor.getLhs()), shapeOf(adaptor.getRhs()), \
                                      err),                                                \
                  err, inferred);                                                          \
  }                                                                                        \
  KILN_COMPATIBLE(OP)

KILN_BINARY(AddOp, "add")
KILN_BINARY(SubOp, "sub")
KILN_BINARY(MulOp, "mul")
KILN_BINARY(DivOp, "div")
KILN_BINARY(MaximumOp, "maximum")
KILN_BINARY(MinimumOp, "minimum")

LogicalResult MatmulOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                         Adaptor adaptor, SmallVectorImpl<Type> &inferred) {
  if (failed(sameElementTypes(loc, "matmul", adaptor.getOperands())))
    return failure();
  if (!allRanked(adaptor.getOperands())) {
    inferred.push_back(unrankedLike(adaptor.getLhs()));
    return success();
  }
  std::string err;
  return finish(loc, "matmul", adaptor.getLhs(),
                inferMatmulShape(shapeOf(adaptor.getLhs()), shapeOf(adaptor.getRhs()), err),
                err, inferred);
}
KILN_COMPATIBLE(MatmulOp)

LogicalResult Conv2DOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                         Adaptor adaptor, SmallVectorImpl<Type> &inferred) {
  if (failed(sameElementTypes(loc, "conv2d", adaptor.getOperands())))
    return failure();
  if (!allRanked(adaptor.getOperands())) {
    inferred.push_back(unrankedLike(adaptor.getInput()));
    return success();
  }
  std::string err;
  return finish(loc, "conv2d", adaptor.getInput(),
                inferConv2DShape(shapeOf(adaptor.getInput()), shapeOf(adaptor.getKernel()),
                                 adaptor.getStrides(), adaptor.getDilations(),
                                 adaptor.getPadding(), err),
                err, inferred);
}
KILN_COMPATIBLE(Conv2DOp)

#define KILN_POOL(OP, NAME)                                                                \
  LogicalResult OP::inferReturnTypes(MLIRContext *, std::optional<Location> loc,           \
                                     Adaptor adaptor, SmallVectorImpl<Type> &inferred) {   \
    if (!allRanked(adaptor.getOperands())) {                                               \
      inferred.push_back(unrankedLike(adaptor.getInput()));                                \
      return success();                                                                    \
    }                                                                                      \
    std::string err;                                                                       \
    return finish(loc, NAME, adaptor.getInput(),                                           \
                  inferPool2DShape(shapeOf(adaptor.getInput()), adaptor.getPoolSize(),     \
                                   adaptor.getStrides(), adaptor.getPadding(), err),       \
                  err, inferred);                                                          \
  }                                                                                        \
  KILN_COMPATIBLE(OP)

KILN_POOL(MaxPool2DOp, "max_pool2d")
KILN_POOL(AvgPool2DOp, "avg_pool2d")

LogicalResult ReshapeOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                          Adaptor adaptor, SmallVectorImpl<Type> &inferred) {
  // An unranked input still has a batch; its other dimensions are unknown, so the target shape
  // is checked (one -1 at most, no dimension < 1) and -1 stays dynamic.
  Shape input = {kDynamic, kDynamic};
  if (allRanked(adaptor.getOperands()))
    input = Shape(shapeOf(adaptor.getInput()));
  std::string err;
  return finish(loc, "reshape", adaptor.getInput(),
                inferReshapeShape(input, adaptor.getShape(), err), err, inferred);
}
KILN_COMPATIBLE(ReshapeOp)

LogicalResult TransposeOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                            Adaptor adaptor, SmallVectorImpl<Type> &inferred) {
  if (!allRanked(adaptor.getOperands())) {
    inferred.push_back(unrankedLike(adaptor.getInput()));
    return success();
  }
  std::string err;
  return finish(loc, "transpose", adaptor.getInput(),
                inferTransposeShape(shapeOf(adaptor.getInput()), adaptor.getPerm(), err), err,
                inferred);
}
KILN_COMPATIBLE(TransposeOp)

LogicalResult PadOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                      Adaptor adaptor, SmallVectorImpl<Type> &inferred) {
  if (!allRanked(adaptor.getOperands())) {
    inferred.push_back(unrankedLike(adaptor.getInput()));
    return success();
  }
  std::string err;
  return finish(loc, "pad", adaptor.getInput(),
                inferPadShape(shapeOf(adaptor.getInput()), adaptor.getLow(), adaptor.getHigh(),
                              err),
                err, inferred);
}
KILN_COMPATIBLE(PadOp)

LogicalResult ConcatOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                         Adaptor adaptor, SmallVectorImpl<Type> &inferred) {
  ValueRange inputs = adaptor.getInputs();
  if (inputs.empty())
    return emitKilnOpError(loc, "concat", "expected at least one input");
  if (failed(sameElementTypes(loc, "concat", inputs)))
    return failure();
  if (!allRanked(inputs)) {
    inferred.push_back(unrankedLike(inputs[0]));
    return success();
  }
  SmallVector<Shape> shapes;
  for (Value v : inputs)
    shapes.push_back(Shape(shapeOf(v)));
  std::string err;
  return finish(loc, "concat", inputs[0], inferConcatShape(shapes, adaptor.getAxis(), err),
                err, inferred);
}
KILN_COMPATIBLE(ConcatOp)

LogicalResult GatherOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                         Adaptor adaptor, SmallVectorImpl<Type> &inferred) {
  if (!allRanked(adaptor.getOperands())) {
    inferred.push_back(unrankedLike(adaptor.getTable()));
    return success();
  }
  std::string err;
  return finish(loc, "gather", adaptor.getTable(),
                inferGatherShape(shapeOf(adaptor.getTable()), shapeOf(adaptor.getIndices()), err),
                err, inferred);
}
KILN_COMPATIBLE(GatherOp)

#define KILN_REDUCE(OP, NAME)                                                              \
  LogicalResult OP::inferReturnTypes(MLIRContext *, std::optional<Location> loc,           \
                                     Adaptor adaptor, SmallVectorImpl<Type> &inferred) {   \
    if (!allRanked(adaptor.getOperands())) {                                               \
      inferred.push_back(unrankedLike(adaptor.getInput()));                                \
      return success();                                                                    \
    }                                                                                      \
    std::string err;                                                                       \
    return finish(loc, NAME, adaptor.getInput(),                                           \
                  inferReduceShape(shapeOf(adaptor.getInput()), adaptor.getAxes(),         \
                                   adaptor.getKeepdims(), err),                            \
                  err, inferred);                                                          \
  }                                                                                        \
  KILN_COMPATIBLE(OP)

KILN_REDUCE(ReduceSumOp, "reduce_sum")
KILN_REDUCE(ReduceMeanOp, "reduce_mean")
KILN_REDUCE(ReduceMaxOp, "reduce_max")

//===----------------------------------------------------------------------===//
// Folders and verifiers
//===----------------------------------------------------------------------===//

OpFoldResult ConstantOp::fold(FoldAdaptor) { return getValue(); }

LogicalResult DropoutOp::verify() {
  float rate = getRate().convertToFloat();
  if (!(rate >= 0.0f && rate < 1.0f))
    return emitKilnOpError(getLoc(), "dropout",
                           "expected rate in [0, 1), got " +
                               Twine(formatFloat(rate)));
  if (getTraining() && !getStep())
    return emitKilnOpError(getLoc(), "dropout",
                           "training = true needs the step operand (the RNG counter)");
  return success();
}

OpFoldResult DropoutOp::fold(FoldAdaptor) {
  if (!getTraining() || getRate().convertToFloat() == 0.0f)
    return getInput();
  return {};
}

#define GET_OP_CLASSES
#include "ir/KilnOps.cpp.inc"
