//===- LowerToLinalg.cpp - kiln ops to linalg/tensor/arith/math ------------===//
#include "codegen/Passes.h"
#include "ir/KilnOps.h"
#include "ir/ShapeFunctions.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Utils/StructuredOpsUtils.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/Transforms/DialectConversion.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cmath>
#include <limits>

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNLOWERTOLINALG
#include "codegen/Passes.h.inc"

namespace {

using BodyFn = function_ref<Value(OpBuilder &, Location, ValueRange)>;

RankedTensorType rankedType(Value v) { return dyn_cast<RankedTensorType>(v.getType()); }

Value f32Const(OpBuilder &b, Location loc, Type type, double value) {
  return arith::ConstantOp::create(b, loc, b.getFloatAttr(type, value));
}

/// The size of dimension `dim` of `v`, static when the type knows it.
OpFoldResult dimOf(OpBuilder &b, Location loc, Value v, int64_t dim) {
  int64_t size = rankedType(v).getDimSize(dim);
  if (!ShapedType::isDynamic(size))
    return b.getIndexAttr(size);
  return tensor::DimOp::create(b, loc, v, dim).getResult();
}

/// A `tensor.empty` of `type` whose dynamic sizes come from `sizeOf(resultDim)`.
Value emptyTensor(OpBuilder &b, Location loc, RankedTensorType type,
                  function_ref<Value(int64_t)> sizeOf) {
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (type.isDynamicDim(i))
      dyn.push_back(sizeOf(i));
  return tensor::EmptyOp::create(b, loc, type.getShape(), type.getElementType(), dyn);
}

/// A `tensor.empty` of `type` whose dynamic dimensions have the sizes of the same dimensions
/// of `like`.
Value emptyLike(OpBuilder &b, Location loc, RankedTensorType type, Value like) {
  return emptyTensor(b, loc, type, [&](int64_t i) -> Value {
    return tensor::DimOp::create(b, loc, like, i);
  });
}

Value filled(OpBuilder &b, Location loc, Value empty, double value) {
  Type elem = cast<RankedTensorType>(empty.getType()).getElementType();
  Value c = f32Const(b, loc, elem, value);
  return linalg::FillOp::create(b, loc, c, empty).getResult(0);
}

SmallVector<utils::IteratorType> parallelIterators(int64_t rank) {
  return SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel);
}

/// An elementwise `linalg.generic` over `resultType` with NumPy broadcasting of `inputs`:
/// inputs are aligned at their trailing dimensions and a static 1 against a larger
/// dimension reads index 0.
Value buildElementwise(OpBuilder &b, Location loc, RankedTensorType resultType,
                       ValueRange inputs, BodyFn body) {
  int64_t rank = resultType.getRank();
  MLIRContext *ctx = b.getContext();
  SmallVector<AffineMap> maps;
  for (Value in : inputs) {
    RankedTensorType t = rankedType(in);
    int64_t offset = rank - t.getRank();
    SmallVector<AffineExpr> exprs;
    for (int64_t j = 0; j < t.getRank(); ++j) {
      bool stretched = t.getDimSize(j) == 1 && resultType.getDimSize(j + offset) != 1;
      exprs.push_back(stretched ? getAffineConstantExpr(0, ctx)
                                : getAffineDimExpr(j + offset, ctx));
    }
    maps.push_back(AffineMap::get(rank, 0, exprs, ctx));
  }
  maps.push_back(AffineMap::getMultiDimIdentityMap(rank, ctx));
  Value init = emptyTensor(b, loc, resultType, [&](int64_t i) -> Value {
    for (Value in : inputs) {
      RankedTensorType t = rankedType(in);
      int64_t j = i - (rank - t.getRank());
      if (j >= 0 && t.isDynamicDim(j))
        return tensor::DimOp::create(b, loc, in, j);
    }
    llvm_unreachable("a dynamic result dimension needs a dynamic operand dimension");
  });
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{resultType}, inputs, ValueRange{init}, maps, parallelIterators(rank),
      [&](OpBuilder &nb, Location nloc, ValueRange args) {
        Value r = body(nb, nloc, args.drop_back());
        linalg::YieldOp::create(nb, nloc, r);
      });
  return generic.getResult(0);
}

/// Reduces `input` over `axes` (sorted, distinct, non-negative) starting from `initValue`;
/// the result drops the reduced dimensions.
Value buildReduction(OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> axes,
                     double initValue, BodyFn combine) {
  RankedTensorType inType = rankedType(input);
  int64_t rank = inType.getRank();
  MLIRContext *ctx = b.getContext();
  SmallVector<int64_t> shape;
  SmallVector<AffineExpr> outExprs;
  SmallVector<utils::IteratorType> iterators;
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < rank; ++i) {
    if (llvm::is_contained(axes, i)) {
      iterators.push_back(utils::IteratorType::reduction);
      continue;
    }
    iterators.push_back(utils::IteratorType::parallel);
    shape.push_back(inType.getDimSize(i));
    outExprs.push_back(getAffineDimExpr(i, ctx));
    if (inType.isDynamicDim(i))
      dyn.push_back(tensor::DimOp::create(b, loc, input, i));
  }
  auto outType = RankedTensorType::get(shape, inType.getElementType());
  Value init = tensor::EmptyOp::create(b, loc, shape, inType.getElementType(), dyn);
  init = filled(b, loc, init, initValue);
  SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(rank, ctx),
                                 AffineMap::get(rank, 0, outExprs, ctx)};
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{outType}, ValueRange{input}, ValueRange{init}, maps, iterators,
      [&](OpBuilder &nb, Location nloc, ValueRange args) {
        linalg::YieldOp::create(nb, nloc, combine(nb, nloc, args));
      });
  return generic.getResult(0);
}

/// Reinserts the reduced `axes` of a rank-`rank` tensor as unit dimensions (keepdims), via
/// `tensor.expand_shape` to `resultType`.
Value expandReduced(OpBuilder &b, Location loc, Value reduced, RankedTensorType resultType,
                    ArrayRef<int64_t> axes, Value original) {
  int64_t rank = resultType.getRank();
  SmallVector<ReassociationIndices> groups;
  ReassociationIndices pending;
  for (int64_t i = 0; i < rank; ++i) {
    pending.push_back(i);
    if (!llvm::is_contained(axes, i)) {
      groups.push_back(pending);
      pending.clear();
    }
  }
  if (!pending.empty()) {
    if (groups.empty())
      groups.push_back({});
    groups.back().append(pending.begin(), pending.end());
  }
  if (rankedType(reduced).getRank() == 0)
    groups.clear();
  SmallVector<OpFoldResult> outShape;
  for (int64_t i = 0; i < rank; ++i)
    outShape.push_back(llvm::is_contained(axes, i) ? OpFoldResult(b.getIndexAttr(1))
                                                   : dimOf(b, loc, original, i));
  return tensor::ExpandShapeOp::create(b, loc, resultType, reduced, groups, outShape);
}

/// Normalizes Keras-style axes (negative from the end) into a sorted list.
SmallVector<int64_t> normalizedAxes(ArrayRef<int64_t> axes, int64_t rank) {
  SmallVector<int64_t> out;
  for (int64_t a : axes)
    out.push_back(a < 0 ? a + rank : a);
  llvm::sort(out);
  return out;
}

//===----------------------------------------------------------------------===//
// Elementwise ops
//===----------------------------------------------------------------------===//

Value sigmoidOf(OpBuilder &b, Location loc, Value x) {
  Type t = x.getType();
  Value e = math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, x));
  Value den = arith::AddFOp::create(b, loc, f32Const(b, loc, t, 1.0), e);
  return arith::DivFOp::create(b, loc, f32Const(b, loc, t, 1.0), den);
}

Value isPositive(OpBuilder &b, Location loc, Value x) {
  return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, x,
                               f32Const(b, loc, x.getType(), 0.0));
}

/// alpha * (exp(x) - 1) for x <= 0, x otherwise.
Value eluOf(OpBuilder &b, Location loc, Value x, double alpha) {
  Type t = x.getType();
  Value em1 = arith::SubFOp::create(b, loc, math::ExpOp::create(b, loc, x),
                                    f32Const(b, loc, t, 1.0));
  Value neg = arith::MulFOp::create(b, loc, f32Const(b, loc, t, alpha), em1);
  return arith::SelectOp::create(b, loc, isPositive(b, loc, x), x, neg);
}

/// The scalar formula of each elementwise kiln op, on the block arguments of a generic.
template <typename OpTy>
Value scalarOf(OpBuilder &b, Location loc, OpTy op, ValueRange a);

#define KILN_SCALAR(OP) \
  template <>           \
  Value scalarOf<OP>(OpBuilder & b, Location loc, OP op, ValueRange a)

KILN_SCALAR(ReluOp) {
  return arith::MaximumFOp::create(b, loc, a[0], f32Const(b, loc, a[0].getType(), 0.0));
}
KILN_SCALAR(SigmoidOp) { return sigmoidOf(b, loc, a[0]); }
KILN_SCALAR(TanhOp) { return math::TanhOp::create(b, loc, a[0]); }
KILN_SCALAR(SeluOp) {
  Value e = eluOf(b, loc, a[0], 1.6732632423543772);
  return arith::MulFOp::create(b, loc, f32Const(b, loc, a[0].getType(), 1.0507009873554805), e);
}
KILN_SCALAR(SoftplusOp) {
  // max(x, 0) + log1p(exp(-|x|)): never overflows, exact for large |x|.
  Value x = a[0];
  Value relu = arith::MaximumFOp::create(b, loc, x, f32Const(b, loc, x.getType(), 0.0));
  Value negAbs = arith::NegFOp::create(b, loc, math::AbsFOp::create(b, loc, x));
  Value tail = math::Log1pOp::create(b, loc, math::ExpOp::create(b, loc, negAbs));
  return arith::AddFOp::create(b, loc, relu, tail);
}
KILN_SCALAR(SoftsignOp) {
  Value x = a[0];
  Value den = arith::AddFOp::create(b, loc, math::AbsFOp::create(b, loc, x),
                                    f32Const(b, loc, x.getType(), 1.0));
  return arith::DivFOp::create(b, loc, x, den);
}
KILN_SCALAR(SiluOp) { return arith::MulFOp::create(b, loc, a[0], sigmoidOf(b, loc, a[0])); }
KILN_SCALAR(ExpOp) { return math::ExpOp::create(b, loc, a[0]); }
KILN_SCALAR(NegOp) { return arith::NegFOp::create(b, loc, a[0]); }
KILN_SCALAR(LogOp) { return math::LogOp::create(b, loc, a[0]); }
KILN_SCALAR(SqrtOp) { return math::SqrtOp::create(b, loc, a[0]); }
KILN_SCALAR(AbsOp) { return math::AbsFOp::create(b, loc, a[0]); }
KILN_SCALAR(SquareOp) { return arith::MulFOp::create(b, loc, a[0], a[0]); }
KILN_SCALAR(EluOp) { return eluOf(b, loc, a[0], op.getAlphaAttr().getValueAsDouble()); }
KILN_SCALAR(LeakyReluOp) {
  Value x = a[0];
  Value scaled = arith::MulFOp::create(
      b, loc, f32Const(b, loc, x.getType(), op.getAlphaAttr().getValueAsDouble()), x);
  return arith::SelectOp::create(b, loc, isPositive(b, loc, x), x, scaled);
}
KILN_SCALAR(HardSigmoidOp) {
  Value x = a[0];
  Type t = x.getType();
  Value y = arith::MulFOp::create(b, loc, f32Const(b, loc, t, op.getSlopeAttr().getValueAsDouble()),
                                  x);
  y = arith::AddFOp::create(b, loc, y, f32Const(b, loc, t, op.getOffsetAttr().getValueAsDouble()));
  y = arith::MaximumFOp::create(b, loc, y, f32Const(b, loc, t, 0.0));
  return arith::MinimumFOp::create(b, loc, y, f32Const(b, loc, t, 1.0));
}
KILN_SCALAR(GeluOp) {
  Value x = a[0];
  Type t = x.getType();
  Value inner;
  if (op.getApproximate()) {
    // tanh(sqrt(2 / pi) * (x + 0.044715 x^3))
    Value x3 = arith::MulFOp::create(b, loc, arith::MulFOp::create(b, loc, x, x), x);
    Value s = arith::AddFOp::create(
        b, loc, x, arith::MulFOp::create(b, loc, f32Const(b, loc, t, 0.044715), x3));
    inner = math::TanhOp::create(
        b, loc, arith::MulFOp::create(b, loc, f32Const(b, loc, t, std::sqrt(2.0 / M_PI)), s));
  } else {
    inner = math::ErfOp::create(
        b, loc, arith::MulFOp::create(b, loc, x, f32Const(b, loc, t, M_SQRT1_2)));
  }
  Value onePlus = arith::AddFOp::create(b, loc, f32Const(b, loc, t, 1.0), inner);
  Value half = arith::MulFOp::create(b, loc, f32Const(b, loc, t, 0.5), x);
  return arith::MulFOp::create(b, loc, half, onePlus);
}
KILN_SCALAR(AddOp) { return arith::AddFOp::create(b, loc, a[0], a[1]); }
KILN_SCALAR(SubOp) { return arith::SubFOp::create(b, loc, a[0], a[1]); }
KILN_SCALAR(MulOp) { return arith::MulFOp::create(b, loc, a[0], a[1]); }
KILN_SCALAR(DivOp) { return arith::DivFOp::create(b, loc, a[0], a[1]); }
KILN_SCALAR(MaximumOp) { return arith::MaximumFOp::create(b, loc, a[0], a[1]); }
KILN_SCALAR(MinimumOp) { return arith::MinimumFOp::create(b, loc, a[0], a[1]); }
#undef KILN_SCALAR

/// Checks that every operand and the result are ranked (shape inference ran).
LogicalResult requireRanked(ConversionPatternRewriter &rewriter, Operation *op) {
  for (Type t : llvm::concat<const Type>(op->getOperandTypes(), op->getResultTypes()))
    if (!isa<RankedTensorType>(t))
      return rewriter.notifyMatchFailure(op, "unranked tensor: run kiln-shape-inference first");
  return success();
}

template <typename OpTy>
struct ElementwiseLowering : OpConversionPattern<OpTy> {
  using OpConversionPattern<OpTy>::OpConversionPattern;
  LogicalResult matchAndRewrite(OpTy op, typename OpTy::Adaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    if (failed(requireRanked(rewriter, op)))
      return failure();
    auto type = cast<RankedTensorType>(op.getType());
    Value r = buildElementwise(rewriter, op.getLoc(), type, adaptor.getOperands(),
                               [&](OpBuilder &b, Location loc, ValueRange args) {
                                 return scalarOf<OpTy>(b, loc, op, args);
                               });
    rewriter.replaceOp(op, r);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Contractions, convolutions, pooling
//===----------------------------------------------------------------------===//

struct MatmulLowering : OpConversionPattern<MatmulOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(MatmulOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    if (failed(requireRanked(rewriter, op)))
      return failure();
    Location loc = op.getLoc();
    Value lhs = adaptor.getLhs(), rhs = adaptor.getRhs();
    auto lhsType = rankedType(lhs);
    auto resultType = cast<RankedTensorType>(op.getType());
    int64_t rank = lhsType.getRank();
    if (rank < 2 || rankedType(rhs).getRank() != 2)
      return rewriter.notifyMatchFailure(op, "expects lhs of rank >= 2 and rhs of rank 2");
    // Rank > 2: (..., K) collapses to (M, K), the product expands back to (..., N).
    ReassociationIndices lead;
    for (int64_t i = 0; i + 1 < rank; ++i)
      lead.push_back(i);
    SmallVector<ReassociationIndices> reassoc = {lead, {rank - 1}};
    Value lhs2 = lhs;
    if (rank > 2)
      lhs2 = tensor::CollapseShapeOp::create(rewriter, loc, lhs, reassoc);
    int64_t n = resultType.getDimSize(rank - 1);
    auto mmType = RankedTensorType::get({rankedType(lhs2).getDimSize(0), n},
                                        resultType.getElementType());
    Value init = emptyLike(rewriter, loc, mmType, lhs2);
    init = filled(rewriter, loc, init, 0.0);
    Value mm = linalg::MatmulOp::create(rewriter, loc, TypeRange{mmType}, ValueRange{lhs2, rhs},
                                        ValueRange{init})
                   .getResult(0);
    if (rank > 2) {
      SmallVector<OpFoldResult> shape;
      for (int64_t i = 0; i + 1 < rank; ++i)
        shape.push_back(dimOf(rewriter, loc, lhs, i));
      shape.push_back(rewriter.getIndexAttr(n));
      mm = tensor::ExpandShapeOp::create(rewriter, loc, resultType, mm, reassoc, shape);
    }
    rewriter.replaceOp(op, mm);
    return success();
  }
};

DenseIntElementsAttr i64Pair(OpBuilder &b, ArrayRef<int64_t> v) {
  return DenseIntElementsAttr::get(RankedTensorType::get({2}, b.getI64Type()), v);
}

/// Pads H and W of an NHWC tensor by TensorFlow's "same" rule for `window`/`stride`/`dilation`.
Value padSame(OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> window,
              ArrayRef<int64_t> strides, ArrayRef<int64_t> dilations, double padValue) {
  auto type = rankedType(input);
  SmallVector<int64_t> low(4, 0), high(4, 0), shape(type.getShape());
  bool any = false;
  for (int d = 0; d < 2; ++d) {
    auto [before, after] = samePadding(type.getDimSize(d + 1), window[d], strides[d],
                                       dilations[d]);
    low[d + 1] = before;
    high[d + 1] = after;
    shape[d + 1] += before + after;
    any |= before || after;
  }
  if (!any)
    return input;
  auto padType = RankedTensorType::get(shape, type.getElementType());
  SmallVector<OpFoldResult> lowOfr, highOfr;
  for (int i = 0; i < 4; ++i) {
    lowOfr.push_back(b.getIndexAttr(low[i]));
    highOfr.push_back(b.getIndexAttr(high[i]));
  }
  Value pad = f32Const(b, loc, type.getElementType(), padValue);
  return tensor::PadOp::create(b, loc, padType, input, lowOfr, highOfr, pad);
}

struct Conv2DLowering : OpConversionPattern<Conv2DOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(Conv2DOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    if (failed(requireRanked(rewriter, op)))
      return failure();
    Location loc = op.getLoc();
    auto resultType = cast<RankedTensorType>(op.getType());
    auto kernelType = rankedType(adaptor.getKernel());
    if (resultType.getRank() != 4 || kernelType.getRank() != 4)
      return rewriter.notifyMatchFailure(op, "expects NHWC input and HWIO kernel");
    Value input = adaptor.getInput();
    if (op.getPadding() == "same")
      input = padSame(rewriter, loc, input, kernelType.getShape().take_front(2),
                      op.getStrides(), op.getDilations(), 0.0);
    Value init = filled(rewriter, loc, emptyLike(rewriter, loc, resultType, input), 0.0);
    Value conv = linalg::Conv2DNhwcHwcfOp::create(
                     rewriter, loc, TypeRange{resultType}, ValueRange{input, adaptor.getKernel()},
                     ValueRange{init}, i64Pair(rewriter, op.getStrides()),
                     i64Pair(rewriter, op.getDilations()))
                     .getResult(0);
    rewriter.replaceOp(op, conv);
    return success();
  }
};

/// Number of window cells of one output position that fall inside the unpadded input.
int64_t validCells(int64_t out, int64_t in, int64_t window, int64_t stride, int64_t before) {
  int64_t start = out * stride - before;
  int64_t lo = std::max<int64_t>(start, 0), hi = std::min<int64_t>(start + window, in);
  return std::max<int64_t>(hi - lo, 0);
}

template <typename OpTy, bool isMax>
struct Pool2DLowering : OpConversionPattern<OpTy> {
  using OpConversionPattern<OpTy>::OpConversionPattern;
  LogicalResult matchAndRewrite(OpTy op, typename OpTy::Adaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    if (failed(requireRanked(rewriter, op)))
      return failure();
    Location loc = op.getLoc();
    auto resultType = cast<RankedTensorType>(op.getType());
    Type elem = resultType.getElementType();
    ArrayRef<int64_t> window = op.getPoolSize(), strides = op.getStrides();
    Value input = adaptor.getInput();
    auto inType = rankedType(input);
    bool same = op.getPadding() == "same";
    double neutral = isMax ? -std::numeric_limits<double>::infinity() : 0.0;
    int64_t ones[2] = {1, 1};
    if (same)
      input = padSame(rewriter, loc, input, window, strides, ones, neutral);
    Value init = filled(rewriter, loc, emptyLike(rewriter, loc, resultType, input), neutral);
    Value windowTensor = tensor::EmptyOp::create(rewriter, loc, window, elem);
    auto strideAttr = i64Pair(rewriter, strides);
    auto dilationAttr = i64Pair(rewriter, ones);
    Value pooled;
    if constexpr (isMax)
      pooled = linalg::PoolingNhwcMaxOp::create(rewriter, loc, TypeRange{resultType},
                                                ValueRange{input, windowTensor},
                                                ValueRange{init}, strideAttr, dilationAttr)
                   .getResult(0);
    else
      pooled = linalg::PoolingNhwcSumOp::create(rewriter, loc, TypeRange{resultType},
                                                ValueRange{input, windowTensor},
                                                ValueRange{init}, strideAttr, dilationAttr)
                   .getResult(0);
    if constexpr (!isMax) {
      int64_t oh = resultType.getDimSize(1), ow = resultType.getDimSize(2);
      if (!same) {
        Value count = f32Const(rewriter, loc, elem, double(window[0] * window[1]));
        pooled = buildElementwise(rewriter, loc, resultType, ValueRange{pooled},
                                  [&](OpBuilder &b, Location l, ValueRange a) -> Value {
                                    return arith::DivFOp::create(b, l, a[0], count);
                                  });
      } else {
        // Padded cells are not counted: divide by each position's number of valid cells.
        auto [bh, ah] = samePadding(inType.getDimSize(1), window[0], strides[0], 1);
        auto [bw, aw] = samePadding(inType.getDimSize(2), window[1], strides[1], 1);
        (void)ah;
        (void)aw;
        SmallVector<float> counts;
        for (int64_t i = 0; i < oh; ++i)
          for (int64_t j = 0; j < ow; ++j)
            counts.push_back(float(
                validCells(i, inType.getDimSize(1), window[0], strides[0], bh) *
                validCells(j, inType.getDimSize(2), window[1], strides[1], bw)));
        auto countType = RankedTensorType::get({oh, ow, 1}, elem);
        Value countTensor = arith::ConstantOp::create(
            rewriter, loc, DenseElementsAttr::get(countType, ArrayRef<float>(counts)));
        pooled = buildElementwise(rewriter, loc, resultType, ValueRange{pooled, countTensor},
                                  [&](OpBuilder &b, Location l, ValueRange a) -> Value {
                                    return arith::DivFOp::create(b, l, a[0], a[1]);
                                  });
      }
    }
    rewriter.replaceOp(op, pooled);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

struct ReshapeLowering : OpConversionPattern<ReshapeOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(ReshapeOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    if (failed(requireRanked(rewriter, op)))
      return failure();
    Location loc = op.getLoc();
    Value input = adaptor.getInput();
    auto inType = rankedType(input);
    auto resultType = cast<RankedTensorType>(op.getType());
    if (inType == resultType) {
      rewriter.replaceOp(op, input);
      return success();
    }
    int64_t inRank = inType.getRank(), outRank = resultType.getRank();
    if (inRank < 1 || outRank < 1)
      return rewriter.notifyMatchFailure(op, "expects a batch dimension");
    // (N) <-> (N, 1, ..., 1): one expand or collapse of all dimensions into the batch.
    auto allOnes = [](ArrayRef<int64_t> dims) {
      return llvm::all_of(dims, [](int64_t d) { return d == 1; });
    };
    if ((inRank == 1 && allOnes(resultType.getShape().drop_front())) ||
        (outRank == 1 && allOnes(inType.getShape().drop_front()))) {
      ReassociationIndices all;
      for (int64_t i = 0; i < std::max(inRank, outRank); ++i)
        all.push_back(i);
      SmallVector<ReassociationIndices> reassoc = {all};
      Value out;
      if (inRank == 1) {
        SmallVector<OpFoldResult> shape = {dimOf(rewriter, loc, input, 0)};
        for (int64_t i = 1; i < outRank; ++i)
          shape.push_back(rewriter.getIndexAttr(1));
        out = tensor::ExpandShapeOp::create(rewriter, loc, resultType, input, reassoc, shape);
      } else {
        out = tensor::CollapseShapeOp::create(rewriter, loc, input, reassoc);
      }
      rewriter.replaceOp(op, out);
      return success();
    }
    // (N, d...) -> (N, prod d) -> (N, s...): the batch stays its own dynamic dimension.
    Value flat = input;
    int64_t elems = 1;
    for (int64_t d : inType.getShape().drop_front())
      elems *= d;
    if (inRank != 2) {
      ReassociationIndices rest;
      for (int64_t i = 1; i < inRank; ++i)
        rest.push_back(i);
      SmallVector<ReassociationIndices> reassoc = {{0}};
      if (inRank == 1)
        return rewriter.notifyMatchFailure(op, "rank-1 input reshape is not supported");
      reassoc.push_back(rest);
      flat = tensor::CollapseShapeOp::create(rewriter, loc, input, reassoc);
    }
    (void)elems;
    Value out = flat;
    if (outRank != 2) {
      if (outRank == 1)
        return rewriter.notifyMatchFailure(op, "rank-1 result reshape is not supported");
      ReassociationIndices rest;
      for (int64_t i = 1; i < outRank; ++i)
        rest.push_back(i);
      SmallVector<ReassociationIndices> reassoc = {{0}, rest};
      SmallVector<OpFoldResult> shape = {dimOf(rewriter, loc, input, 0)};
      for (int64_t d : resultType.getShape().drop_front())
        shape.push_back(rewriter.getIndexAttr(d));
      out = tensor::ExpandShapeOp::create(rewriter, loc, resultType, flat, reassoc, shape);
    }
    rewriter.replaceOp(op, out);
    return success();
  }
};

struct TransposeLowering : OpConversionPattern<TransposeOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(TransposeOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    if (failed(requireRanked(rewriter, op)))
      return failure();
    Location loc = op.getLoc();
    Value input = adaptor.getInput();
    auto resultType = cast<RankedTensorType>(op.getType());
    ArrayRef<int64_t> perm = op.getPerm();
    Value init = emptyTensor(rewriter, loc, resultType, [&](int64_t i) -> Value {
      return tensor::DimOp::create(rewriter, loc, input, perm[i]);
    });
    auto t = linalg::TransposeOp::create(rewriter, loc, input, init, perm);
    rewriter.replaceOp(op, t.getResult());
    return success();
  }
};

struct PadLowering : OpConversionPattern<PadOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(PadOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    if (failed(requireRanked(rewriter, op)))
      return failure();
    Location loc = op.getLoc();
    auto resultType = cast<RankedTensorType>(op.getType());
    SmallVector<OpFoldResult> low, high;
    for (auto [l, h] : llvm::zip(op.getLow(), op.getHigh())) {
      low.push_back(rewriter.getIndexAttr(l));
      high.push_back(rewriter.getIndexAttr(h));
    }
    Value zero = f32Const(rewriter, loc, resultType.getElementType(), 0.0);
    rewriter.replaceOpWithNewOp<tensor::PadOp>(op, resultType, adaptor.getInput(), low, high,
                                               zero);
    return success();
  }
};

struct ConcatLowering : OpConversionPattern<ConcatOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(ConcatOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    if (failed(requireRanked(rewriter, op)))
      return failure();
    Location loc = op.getLoc();
    auto resultType = cast<RankedTensorType>(op.getType());
    int64_t rank = resultType.getRank();
    // I64Attr getters return uint64_t: reinterpret as signed before normalizing.
    int64_t axis = static_cast<int64_t>(op.getAxis());
    if (axis < 0)
      axis += rank;
    ValueRange inputs = adaptor.getInputs();
    Value out = emptyTensor(rewriter, loc, resultType, [&](int64_t i) -> Value {
      if (i != axis)
        return tensor::DimOp::create(rewriter, loc, inputs[0], i);
      Value sum = arith::ConstantIndexOp::create(rewriter, loc, 0);
      for (Value in : inputs)
        sum = arith::AddIOp::create(rewriter, loc, sum,
                                    tensor::DimOp::create(rewriter, loc, in, axis));
      return sum;
    });
    OpFoldResult offset = rewriter.getIndexAttr(0);
    for (Value in : inputs) {
      SmallVector<OpFoldResult> offsets(rank, rewriter.getIndexAttr(0));
      offsets[axis] = offset;
      SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(rewriter, loc, in);
      SmallVector<OpFoldResult> strides(rank, rewriter.getIndexAttr(1));
      out = tensor::InsertSliceOp::create(rewriter, loc, in, out, offsets, sizes, strides);
      AffineExpr s0, s1;
      bindSymbols(rewriter.getContext(), s0, s1);
      offset = affine::makeComposedFoldedAffineApply(rewriter, loc, s0 + s1,
                                                     {offset, sizes[axis]});
    }
    rewriter.replaceOp(op, out);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Softmax and reductions
//===----------------------------------------------------------------------===//

Value maxCombine(OpBuilder &b, Location loc, ValueRange a) {
  return arith::MaximumFOp::create(b, loc, a[0], a[1]);
}
Value addCombine(OpBuilder &b, Location loc, ValueRange a) {
  return arith::AddFOp::create(b, loc, a[0], a[1]);
}

/// A generic combining `full` (rank R) with `reduced` (rank R without `axis`) elementwise.
Value combineWithReduced(OpBuilder &b, Location loc, Value full, Value reduced, int64_t axis,
                         BodyFn body) {
  auto type = rankedType(full);
  int64_t rank = type.getRank();
  MLIRContext *ctx = b.getContext();
  SmallVector<AffineExpr> exprs;
  for (int64_t i = 0; i < rank; ++i)
    if (i != axis)
      exprs.push_back(getAffineDimExpr(i, ctx));
  SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(rank, ctx),
                                 AffineMap::get(rank, 0, exprs, ctx),
                                 AffineMap::getMultiDimIdentityMap(rank, ctx)};
  Value init = emptyLike(b, loc, type, full);
  return linalg::GenericOp::create(
             b, loc, TypeRange{type}, ValueRange{full, reduced}, ValueRange{init}, maps,
             parallelIterators(rank),
             [&](OpBuilder &nb, Location nloc, ValueRange args) {
               linalg::YieldOp::create(nb, nloc, body(nb, nloc, args.drop_back()));
             })
      .getResult(0);
}

struct SoftmaxLowering : OpConversionPattern<SoftmaxOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(SoftmaxOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    if (failed(requireRanked(rewriter, op)))
      return failure();
    Location loc = op.getLoc();
    Value x = adaptor.getInput();
    int64_t rank = rankedType(x).getRank();
    // I64Attr getters return uint64_t: reinterpret as signed before normalizing.
    int64_t axis = static_cast<int64_t>(op.getAxis());
    if (axis < 0)
      axis += rank;
    // exp(x - max) / sum(exp(x - max)): the shift keeps exp from overflowing.
    Value mx = buildReduction(rewriter, loc, x, {axis},
                              -std::numeric_limits<double>::infinity(), maxCombine);
    Value e = combineWithReduced(rewriter, loc, x, mx, axis,
                                 [](OpBuilder &b, Location l, ValueRange a) -> Value {
                                   return math::ExpOp::create(
                                       b, l, arith::SubFOp::create(b, l, a[0], a[1]));
                                 });
    Value sum = buildReduction(rewriter, loc, e, {axis}, 0.0, addCombine);
    Value y = combineWithReduced(rewriter, loc, e, sum, axis,
                                 [](OpBuilder &b, Location l, ValueRange a) -> Value {
                                   return arith::DivFOp::create(b, l, a[0], a[1]);
                                 });
    rewriter.replaceOp(op, y);
    return success();
  }
};

/// out[s..., d] = table[clamp(indices[s...]), d].
struct GatherLowering : OpConversionPattern<GatherOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(GatherOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    if (failed(requireRanked(rewriter, op)))
      return failure();
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Value table = adaptor.getTable(), ids = adaptor.getIndices();
    int64_t rows = rankedType(table).getDimSize(0);
    if (ShapedType::isDynamic(rows))
      return rewriter.notifyMatchFailure(op, "expects a table with a static row count");
    auto resultType = cast<RankedTensorType>(op.getType());
    int64_t rank = resultType.getRank();
    SmallVector<AffineExpr> idExprs;
    for (int64_t i = 0; i + 1 < rank; ++i)
      idExprs.push_back(getAffineDimExpr(i, ctx));
    SmallVector<AffineMap> maps = {AffineMap::get(rank, 0, idExprs, ctx),
                                   AffineMap::getMultiDimIdentityMap(rank, ctx)};
    Value init = emptyLike(rewriter, loc, resultType, ids);
    Value r = linalg::GenericOp::create(
                  rewriter, loc, TypeRange{resultType}, ValueRange{ids}, ValueRange{init}, maps,
                  parallelIterators(rank),
                  [&](OpBuilder &b, Location l, ValueRange a) {
                    Value row = clampedRowIndex(b, l, a[0], rows);
                    Value col = linalg::IndexOp::create(b, l, rank - 1);
                    Value v = tensor::ExtractOp::create(b, l, table, ValueRange{row, col});
                    linalg::YieldOp::create(b, l, v);
                  })
                  .getResult(0);
    rewriter.replaceOp(op, r);
    return success();
  }
};

enum class ReduceKind { Sum, Mean, Max };

template <typename OpTy, ReduceKind kind>
struct ReduceLowering : OpConversionPattern<OpTy> {
  using OpConversionPattern<OpTy>::OpConversionPattern;
  LogicalResult matchAndRewrite(OpTy op, typename OpTy::Adaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    if (failed(requireRanked(rewriter, op)))
      return failure();
    Location loc = op.getLoc();
    Value x = adaptor.getInput();
    auto inType = rankedType(x);
    auto resultType = cast<RankedTensorType>(op.getType());
    SmallVector<int64_t> axes = normalizedAxes(op.getAxes(), inType.getRank());
    bool isMax = kind == ReduceKind::Max;
    Value r = buildReduction(rewriter, loc, x, axes,
                             isMax ? -std::numeric_limits<double>::infinity() : 0.0,
                             isMax ? maxCombine : addCombine);
    if (kind == ReduceKind::Mean) {
      Value count = arith::ConstantIndexOp::create(rewriter, loc, 1);
      for (int64_t a : axes)
        count = arith::MulIOp::create(rewriter, loc, count,
                                      tensor::DimOp::create(rewriter, loc, x, a));
      Value countI = arith::IndexCastOp::create(rewriter, loc, rewriter.getI64Type(), count);
      Value countF =
          arith::SIToFPOp::create(rewriter, loc, inType.getElementType(), countI);
      r = buildElementwise(rewriter, loc, rankedType(r), ValueRange{r},
                           [&](OpBuilder &b, Location l, ValueRange a) -> Value {
                             return arith::DivFOp::create(b, l, a[0], countF);
                           });
    }
    if (op.getKeepdims())
      r = expandReduced(rewriter, loc, r, resultType, axes, x);
    rewriter.replaceOp(op, r);
    return success();
  }
};

struct ConstantLowering : OpConversionPattern<ConstantOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(ConstantOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    auto value = dyn_cast<TypedAttr>(op.getValue());
    if (!value)
      return rewriter.notifyMatchFailure(op, "constant value is not a typed attribute");
    rewriter.replaceOpWithNewOp<arith::ConstantOp>(op, value);
    return success();
  }
};

struct DropoutLowering : OpConversionPattern<DropoutOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(DropoutOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    if (op.getTraining())
      return rewriter.notifyMatchFailure(op, "training-mode dropout has no lowering yet");
    rewriter.replaceOp(op, adaptor.getInput());
    return success();
  }
};

} // namespace

void populateKilnToLinalgPatterns(RewritePatternSet &patterns) {
  MLIRContext *ctx = patterns.getContext();
  patterns.add<ElementwiseLowering<ReluOp>, ElementwiseLowering<SigmoidOp>,
               ElementwiseLowering<TanhOp>, ElementwiseLowering<SeluOp>,
               ElementwiseLowering<SoftplusOp>, ElementwiseLowering<SoftsignOp>,
               ElementwiseLowering<SiluOp>, ElementwiseLowering<ExpOp>,
               ElementwiseLowering<NegOp>, ElementwiseLowering<LogOp>,
               ElementwiseLowering<SqrtOp>, ElementwiseLowering<AbsOp>,
               ElementwiseLowering<SquareOp>, ElementwiseLowering<EluOp>,
               ElementwiseLowering<LeakyReluOp>, ElementwiseLowering<HardSigmoidOp>,
               ElementwiseLowering<GeluOp>, ElementwiseLowering<AddOp>,
               ElementwiseLowering<SubOp>, ElementwiseLowering<MulOp>,
               ElementwiseLowering<DivOp>, ElementwiseLowering<MaximumOp>,
               ElementwiseLowering<MinimumOp>>(ctx);
  patterns.add<MatmulLowering, Conv2DLowering, Pool2DLowering<MaxPool2DOp, true>,
               Pool2DLowering<AvgPool2DOp, false>, ReshapeLowering, TransposeLowering,
               PadLowering, ConcatLowering, SoftmaxLowering,
               ReduceLowering<ReduceSumOp, ReduceKind::Sum>,
               ReduceLowering<ReduceMeanOp, ReduceKind::Mean>,
               ReduceLowering<ReduceMaxOp, ReduceKind::Max>, ConstantLowering,
               DropoutLowering, GatherLowering>(ctx);
}

Value clampedRowIndex(OpBuilder &b, Location loc, Value index, int64_t rows) {
  Type t = index.getType();
  if (auto ft = dyn_cast<FloatType>(t)) {
    // Clamp as a float first: fptosi of a value outside i64 (or of NaN) is poison. maxnumf
    // returns the other operand for a NaN.
    Value lo = arith::ConstantOp::create(b, loc, b.getFloatAttr(ft, 0.0));
    Value hi = arith::ConstantOp::create(b, loc, b.getFloatAttr(ft, double(rows - 1)));
    Value c = arith::MinNumFOp::create(b, loc, arith::MaxNumFOp::create(b, loc, index, lo), hi);
    return arith::IndexCastOp::create(b, loc, b.getIndexType(),
                                      arith::FPToSIOp::create(b, loc, b.getI64Type(), c));
  }
  Value lo = arith::ConstantOp::create(b, loc, b.getIntegerAttr(t, 0));
  Value hi = arith::ConstantOp::create(b, loc, b.getIntegerAttr(t, rows - 1));
  Value c = arith::MinSIOp::create(b, loc, arith::MaxSIOp::create(b, loc, index, lo), hi);
  return arith::IndexCastOp::create(b, loc, b.getIndexType(), c);
}

namespace {
struct LowerToLinalgPass : impl::KilnLowerToLinalgBase<LowerToLinalgPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateKilnToLinalgPatterns(patterns);
    populateKilnGradToLinalgPatterns(patterns);
    ConversionTarget target(getContext());
    target.addIllegalDialect<KilnDialect>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    if (failed(applyPartialConversion(getOperation(), target, std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
} // namespace mlir::kiln
