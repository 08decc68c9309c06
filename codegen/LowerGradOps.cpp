//===- LowerGradOps.cpp - kiln's training ops to linalg/tensor/arith/math -------===//
//
// The backward halves that kiln-autodiff emits. Each gradient is the derivative of what the
// forward lowering in LowerToLinalg.cpp computes (the same formulas, the same "same" padding
// split, the same valid-cell counting), so that finite differences of the lowered forward ops
// agree with them. kiln.grad is not lowered: autodiff expands it first.
//
//===----------------------------------------------------------------------===//
#include "codegen/Passes.h"
#include "ir/KilnOps.h"
#include "ir/ShapeFunctions.h"

#include "mlir/IR/AffineMap.h"
#include "mlir/Transforms/DialectConversion.h"
#include "llvm/ADT/StringSwitch.h"

#include <cmath>
#include <limits>

namespace mlir::kiln {
namespace {

using BodyFn = function_ref<Value(OpBuilder &, Location, ValueRange)>;

RankedTensorType rankedType(Value v) { return dyn_cast<RankedTensorType>(v.getType()); }

Value fConst(OpBuilder &b, Location loc, Type type, double value) {
  return arith::ConstantOp::create(b, loc, b.getFloatAttr(type, value));
}

Value iConst(OpBuilder &b, Location loc, int64_t value) {
  return arith::ConstantIndexOp::create(b, loc, value);
}

/// The size of dimension `dim` of `v`, static when the type knows it.
OpFoldResult dimOf(OpBuilder &b, Location loc, Value v, int64_t dim) {
  int64_t size = rankedType(v).getDimSize(dim);
  if (!ShapedType::isDynamic(size))
    return b.getIndexAttr(size);
  return tensor::DimOp::create(b, loc, v, dim).getResult();
}

/// A `tensor.empty` of `type` whose dynamic dimensions have the sizes of the same dimensions
/// of `like`.
Value emptyLike(OpBuilder &b, Location loc, RankedTensorType type, Value like) {
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (type.isDynamicDim(i))
      dyn.push_back(tensor::DimOp::create(b, loc, like, i));
  return tensor::EmptyOp::create(b, loc, type.getShape(), type.getElementType(), dyn);
}

Value filled(OpBuilder &b, Location loc, Value empty, double value) {
  Type elem = cast<RankedTensorType>(empty.getType()).getElementType();
  return linalg::FillOp::create(b, loc, fConst(b, loc, elem, value), empty).getResult(0);
}

SmallVector<utils::IteratorType> parallelIterators(int64_t rank) {
  return SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel);
}

DenseIntElementsAttr i64Pair(OpBuilder &b, ArrayRef<int64_t> v) {
  return DenseIntElementsAttr::get(RankedTensorType::get({2}, b.getI64Type()), v);
}

LogicalResult requireRanked(ConversionPatternRewriter &rewriter, Operation *op) {
  for (Type t : llvm::concat<const Type>(op->getOperandTypes(), op->getResultTypes()))
    if (!isa<RankedTensorType>(t))
      return rewriter.notifyMatchFailure(op, "unranked tensor: run kiln-shape-inference first");
  return success();
}

/// An elementwise `linalg.generic` producing `resultType` from `inputs` with NumPy
/// broadcasting (trailing alignment, a static 1 against another size reads index 0). Dynamic
/// result sizes come from `shapeSource` when given, else from a dynamic input dimension;
/// fails when neither has one.
FailureOr<Value> buildBroadcast(OpBuilder &b, Location loc, RankedTensorType resultType,
                                ValueRange inputs, Value shapeSource, BodyFn body) {
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
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < rank; ++i) {
    if (!resultType.isDynamicDim(i))
      continue;
    Value size;
    if (shapeSource) {
      size = tensor::DimOp::create(b, loc, shapeSource, i);
    } else {
      for (Value in : inputs) {
        RankedTensorType t = rankedType(in);
        int64_t j = i - (rank - t.getRank());
        if (j >= 0 && t.isDynamicDim(j)) {
          size = tensor::DimOp::create(b, loc, in, j);
          break;
        }
      }
    }
    if (!size)
      return failure();
    dyn.push_back(size);
  }
  Value init = tensor::EmptyOp::create(b, loc, resultType.getShape(),
                                       resultType.getElementType(), dyn);
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{resultType}, inputs, ValueRange{init}, maps, parallelIterators(rank),
      [&](OpBuilder &nb, Location nloc, ValueRange args) {
        linalg::YieldOp::create(nb, nloc, body(nb, nloc, args.drop_back()));
      });
  return generic.getResult(0);
}

/// Pads H and W of an NHWC tensor by TensorFlow's "same" rule, as the forward lowering does.
Value padSame(OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> window,
              ArrayRef<int64_t> strides, ArrayRef<int64_t> dilations, double padValue) {
  auto type = rankedType(input);
  SmallVector<int64_t> shape(type.getShape());
  SmallVector<OpFoldResult> low(4, b.getIndexAttr(0)), high(4, b.getIndexAttr(0));
  bool any = false;
  for (int d = 0; d < 2; ++d) {
    auto [before, after] = samePadding(type.getDimSize(d + 1), window[d], strides[d],
                                       dilations[d]);
    low[d + 1] = b.getIndexAttr(before);
    high[d + 1] = b.getIndexAttr(after);
    shape[d + 1] += before + after;
    any |= before || after;
  }
  if (!any)
    return input;
  auto padType = RankedTensorType::get(shape, type.getElementType());
  Value pad = fConst(b, loc, type.getElementType(), padValue);
  return tensor::PadOp::create(b, loc, padType, input, low, high, pad);
}

/// Requires static H and W (dimensions 1 and 2) of each NHWC value: only the batch may be
/// dynamic.
LogicalResult requireStaticSpatial(ConversionPatternRewriter &rewriter, Operation *op,
                                   ArrayRef<Value> values) {
  for (Value v : values) {
    auto t = rankedType(v);
    if (t.getRank() != 4)
      return rewriter.notifyMatchFailure(op, "expects rank-4 NHWC tensors");
    for (int64_t d = 1; d < 4; ++d)
      if (t.isDynamicDim(d))
        return rewriter.notifyMatchFailure(op, "only the batch dimension may be dynamic");
  }
  return success();
}

//===----------------------------------------------------------------------===//
// unary_grad
//===----------------------------------------------------------------------===//

Value sigmoidOf(OpBuilder &b, Location loc, Value x) {
  Type t = x.getType();
  Value e = math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, x));
  Value den = arith::AddFOp::create(b, loc, fConst(b, loc, t, 1.0), e);
  return arith::DivFOp::create(b, loc, fConst(b, loc, t, 1.0), den);
}

Value isPositive(OpBuilder &b, Location loc, Value x) {
  return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, x,
                               fConst(b, loc, x.getType(), 0.0));
}

/// The derivative of the elu family at x: 1 for x > 0, alpha * exp(x) otherwise (the
/// forward's `x > 0` select puts x = 0 on the exp side).
Value eluDerivative(OpBuilder &b, Location loc, Value x, double alpha) {
  Type t = x.getType();
  Value neg = arith::MulFOp::create(b, loc, fConst(b, loc, t, alpha),
                                    math::ExpOp::create(b, loc, x));
  return arith::SelectOp::create(b, loc, isPositive(b, loc, x), fConst(b, loc, t, 1.0), neg);
}

/// f'(x) of the forward op named by `op.getKind()`, with the formulas of LowerToLinalg.cpp.
Value unaryDerivative(OpBuilder &b, Location loc, UnaryGradOp op, Value x) {
  Type t = x.getType();
  auto c = [&](double v) { return fConst(b, loc, t, v); };
  auto mul = [&](Value l, Value r) -> Value { return arith::MulFOp::create(b, loc, l, r); };
  auto sub = [&](Value l, Value r) -> Value { return arith::SubFOp::create(b, loc, l, r); };
  auto add = [&](Value l, Value r) -> Value { return arith::AddFOp::create(b, loc, l, r); };
  auto div = [&](Value l, Value r) -> Value { return arith::DivFOp::create(b, loc, l, r); };
  auto select = [&](Value cond, Value l, Value r) -> Value {
    return arith::SelectOp::create(b, loc, cond, l, r);
  };
  auto cmp = [&](arith::CmpFPredicate p, Value l, Value r) -> Value {
    return arith::CmpFOp::create(b, loc, p, l, r);
  };
  double alpha = op.getAlphaAttr().getValueAsDouble();
  StringRef kind = op.getKind();
  if (kind == "relu")
    return select(isPositive(b, loc, x), c(1.0), c(0.0));
  if (kind == "sigmoid") {
    Value s = sigmoidOf(b, loc, x);
    return mul(s, sub(c(1.0), s));
  }
  if (kind == "tanh") {
    Value th = math::TanhOp::create(b, loc, x);
    return sub(c(1.0), mul(th, th));
  }
  if (kind == "selu")
    return mul(c(1.0507009873554805), eluDerivative(b, loc, x, 1.6732632423543772));
  if (kind == "softplus")
    return sigmoidOf(b, loc, x);
  if (kind == "softsign") {
    Value den = add(c(1.0), math::AbsFOp::create(b, loc, x));
    return div(c(1.0), mul(den, den));
  }
  if (kind == "silu") {
    Value s = sigmoidOf(b, loc, x);
    return mul(s, add(c(1.0), mul(x, sub(c(1.0), s))));
  }
  if (kind == "exp")
    return Value(math::ExpOp::create(b, loc, x));
  if (kind == "neg")
    return c(-1.0);
  if (kind == "log")
    return div(c(1.0), x);
  if (kind == "sqrt")
    return div(c(0.5), math::SqrtOp::create(b, loc, x));
  if (kind == "abs")
    return select(isPositive(b, loc, x), c(1.0),
                  select(cmp(arith::CmpFPredicate::OLT, x, c(0.0)), c(-1.0), c(0.0)));
  if (kind == "square")
    return mul(c(2.0), x);
  if (kind == "elu")
    return eluDerivative(b, loc, x, alpha);
  if (kind == "leaky_relu")
    return select(isPositive(b, loc, x), c(1.0), c(alpha));
  if (kind == "hard_sigmoid") {
    // The forward clamps slope * x + offset to [0, 1]: flat outside the open interval.
    double slope = op.getSlopeAttr().getValueAsDouble();
    Value y = add(mul(c(slope), x), c(op.getOffsetAttr().getValueAsDouble()));
    Value inside = arith::AndIOp::create(b, loc, cmp(arith::CmpFPredicate::OGT, y, c(0.0)),
                                         cmp(arith::CmpFPredicate::OLT, y, c(1.0)));
    return select(inside, c(slope), c(0.0));
  }
  if (kind == "gelu") {
    if (op.getApproximate()) {
      // y = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3):
      // y' = 0.5 (1 + tanh(u)) + 0.5 x (1 - tanh(u)^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2).
      double k = std::sqrt(2.0 / M_PI);
      Value x2 = mul(x, x);
      Value u = mul(c(k), add(x, mul(c(0.044715), mul(x2, x))));
      Value th = math::TanhOp::create(b, loc, u);
      Value du = mul(c(k), add(c(1.0), mul(c(3 * 0.044715), x2)));
      Value left = mul(c(0.5), add(c(1.0), th));
      Value right = mul(mul(c(0.5), x), mul(sub(c(1.0), mul(th, th)), du));
      return add(left, right);
    }
    // y = x Phi(x), Phi(x) = 0.5 (1 + erf(x / sqrt 2)): y' = Phi(x) + x phi(x).
    Value erf = math::ErfOp::create(b, loc, mul(x, c(M_SQRT1_2)));
    Value cdf = mul(c(0.5), add(c(1.0), erf));
    Value pdf = mul(c(0.5 * M_2_SQRTPI * M_SQRT1_2),
                    math::ExpOp::create(b, loc, mul(c(-0.5), mul(x, x))));
    return add(cdf, mul(x, pdf));
  }
  llvm_unreachable("the verifier rejects unknown unary_grad kinds");
}

struct UnaryGradLowering : OpConversionPattern<UnaryGradOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(UnaryGradOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    if (failed(requireRanked(rewriter, op)))
      return failure();
    auto type = cast<RankedTensorType>(op.getType());
    Value x = adaptor.getInput();
    if (rankedType(x).getRank() != type.getRank())
      return rewriter.notifyMatchFailure(op, "input and result have different ranks");
    auto r = buildBroadcast(rewriter, op.getLoc(), type, ValueRange{x, adaptor.getGrad()}, x,
                            [&](OpBuilder &b, Location loc, ValueRange a) -> Value {
                              return arith::MulFOp::create(b, loc, a[1],
                                                           unaryDerivative(b, loc, op, a[0]));
                            });
    rewriter.replaceOp(op, *r);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Convolution gradients
//===----------------------------------------------------------------------===//

/// dx of y = conv(x, k): with E the gradient dilated by the stride and padded by
/// (KH - 1) * dilation on each side, dx_pad[p] = sum_kh E[p + kh * d] * k[KH - 1 - kh] with
/// C and F swapped, a stride-1 conv; dx drops the forward's "same" padding from dx_pad.
struct Conv2DGradInputLowering : OpConversionPattern<Conv2DGradInputOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(Conv2DGradInputOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    if (failed(requireRanked(rewriter, op)))
      return failure();
    Value dy = adaptor.getGrad(), kernel = adaptor.getKernel();
    if (failed(requireStaticSpatial(rewriter, op, {dy, op.getResult()})))
      return failure();
    auto kType = rankedType(kernel);
    if (kType.getRank() != 4 || !kType.hasStaticShape())
      return rewriter.notifyMatchFailure(op, "expects a static HWIO kernel");
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    auto resultType = cast<RankedTensorType>(op.getType());
    auto dyType = rankedType(dy);
    Type elem = resultType.getElementType();
    ArrayRef<int64_t> strides = op.getStrides(), dilations = op.getDilations();
    ArrayRef<int64_t> kShape = kType.getShape();
    bool same = op.getPadding() == "same";

    // The forward's padded input extent and the padding before it, per spatial dimension.
    int64_t padded[2], before[2], halo[2];
    for (int d = 0; d < 2; ++d) {
      int64_t in = resultType.getDimSize(d + 1);
      auto [lo, hi] = same ? samePadding(in, kShape[d], strides[d], dilations[d])
                           : std::pair<int64_t, int64_t>{0, 0};
      before[d] = lo;
      padded[d] = in + lo + hi;
      halo[d] = (kShape[d] - 1) * dilations[d];
    }

    // E: zeros, with dy at (halo + o * stride).
    SmallVector<int64_t> eShape = {dyType.getDimSize(0), padded[0] + halo[0],
                                   padded[1] + halo[1], dyType.getDimSize(3)};
    auto eType = RankedTensorType::get(eShape, elem);
    Value e = filled(rewriter, loc, emptyLike(rewriter, loc, eType, dy), 0.0);
    SmallVector<OpFoldResult> offsets = {rewriter.getIndexAttr(0), rewriter.getIndexAttr(halo[0]),
                                         rewriter.getIndexAttr(halo[1]),
                                         rewriter.getIndexAttr(0)};
    SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(rewriter, loc, dy);
    SmallVector<OpFoldResult> steps = {rewriter.getIndexAttr(1), rewriter.getIndexAttr(strides[0]),
                                       rewriter.getIndexAttr(strides[1]),
                                       rewriter.getIndexAttr(1)};
    e = tensor::InsertSliceOp::create(rewriter, loc, dy, e, offsets, sizes, steps);

    // The kernel flipped in H and W, (KH, KW, F, C).
    AffineExpr kh, kw, f, c;
    bindDims(ctx, kh, kw, f, c);
    auto flipType = RankedTensorType::get({kShape[0], kShape[1], kShape[3], kShape[2]}, elem);
    Value flipInit = tensor::EmptyOp::create(rewriter, loc, flipType.getShape(), elem);
    SmallVector<AffineMap> flipMaps = {
        AffineMap::get(4, 0, {kShape[0] - 1 - kh, kShape[1] - 1 - kw, c, f}, ctx),
        AffineMap::getMultiDimIdentityMap(4, ctx)};
    Value flipped = linalg::GenericOp::create(
                        rewriter, loc, TypeRange{flipType}, ValueRange{kernel},
                        ValueRange{flipInit}, flipMaps, parallelIterators(4),
                        [](OpBuilder &b, Location l, ValueRange a) {
                          linalg::YieldOp::create(b, l, a[0]);
                        })
                        .getResult(0);

    auto padType = RankedTensorType::get(
        {resultType.getDimSize(0), padded[0], padded[1], resultType.getDimSize(3)}, elem);
    Value init = filled(rewriter, loc, emptyLike(rewriter, loc, padType, dy), 0.0);
    int64_t ones[2] = {1, 1};
    Value dxPad = linalg::Conv2DNhwcHwcfOp::create(rewriter, loc, TypeRange{padType},
                                                   ValueRange{e, flipped}, ValueRange{init},
                                                   i64Pair(rewriter, ones),
                                                   i64Pair(rewriter, dilations))
                      .getResult(0);
    Value dx = dxPad;
    if (padType != resultType) {
      SmallVector<OpFoldResult> off = {rewriter.getIndexAttr(0), rewriter.getIndexAttr(before[0]),
                                       rewriter.getIndexAttr(before[1]),
                                       rewriter.getIndexAttr(0)};
      SmallVector<OpFoldResult> size = {dimOf(rewriter, loc, dy, 0),
                                        rewriter.getIndexAttr(resultType.getDimSize(1)),
                                        rewriter.getIndexAttr(resultType.getDimSize(2)),
                                        rewriter.getIndexAttr(resultType.getDimSize(3))};
      SmallVector<OpFoldResult> one(4, rewriter.getIndexAttr(1));
      dx = tensor::ExtractSliceOp::create(rewriter, loc, resultType, dxPad, off, size, one);
    }
    rewriter.replaceOp(op, dx);
    return success();
  }
};

/// `v` with its dimensions permuted: result dimension i is dimension perm[i] of `v`.
Value transposed(OpBuilder &b, Location loc, Value v, ArrayRef<int64_t> perm) {
  auto type = rankedType(v);
  SmallVector<int64_t> shape;
  SmallVector<Value> dyn;
  for (int64_t p : perm) {
    shape.push_back(type.getDimSize(p));
    if (type.isDynamicDim(p))
      dyn.push_back(tensor::DimOp::create(b, loc, v, p));
  }
  Value init = tensor::EmptyOp::create(b, loc, shape, type.getElementType(), dyn);
  return linalg::TransposeOp::create(b, loc, v, init, perm).getResult()[0];
}

/// dk[kh, kw, c, f] = sum_{n, oh, ow} x_pad[n, oh*s + kh*d, ow*s + kw*d, c] * dy[n, oh, ow, f],
/// computed as a convolution so that the conv kernels apply: the input x_pad as (C, H, W, N)
/// (the channels as the batch, the batch as the reduced channel), the kernel dy as
/// (OH, OW, N, F), stride d and dilation s, giving (C, KH, KW, F).
struct Conv2DGradKernelLowering : OpConversionPattern<Conv2DGradKernelOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(Conv2DGradKernelOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    if (failed(requireRanked(rewriter, op)))
      return failure();
    Value x = adaptor.getInput(), dy = adaptor.getGrad();
    if (failed(requireStaticSpatial(rewriter, op, {x, dy})))
      return failure();
    auto resultType = cast<RankedTensorType>(op.getType());
    if (!resultType.hasStaticShape())
      return rewriter.notifyMatchFailure(op, "expects a static kernel shape");
    Location loc = op.getLoc();
    ArrayRef<int64_t> strides = op.getStrides(), dilations = op.getDilations();
    ArrayRef<int64_t> kShape = resultType.getShape();
    if (op.getPadding() == "same")
      x = padSame(rewriter, loc, x, kShape.take_front(2), strides, dilations, 0.0);
    Value xT = transposed(rewriter, loc, x, {3, 1, 2, 0});
    Value dyT = transposed(rewriter, loc, dy, {1, 2, 0, 3});
    // The forward's floor division may leave input cells unread: the conv computes exactly
    // KH x KW outputs, which reads no further than the forward did.
    auto convType =
        RankedTensorType::get({kShape[2], kShape[0], kShape[1], kShape[3]}, resultType.getElementType());
    Value init = filled(rewriter, loc,
                        tensor::EmptyOp::create(rewriter, loc, convType.getShape(),
                                                convType.getElementType()),
                        0.0);
    Value conv = linalg::Conv2DNhwcHwcfOp::create(rewriter, loc, TypeRange{convType},
                                                  ValueRange{xT, dyT}, ValueRange{init},
                                                  i64Pair(rewriter, dilations),
                                                  i64Pair(rewriter, strides))
                     .getResult(0);
    rewriter.replaceOp(op, transposed(rewriter, loc, conv, {1, 2, 0, 3}));
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Pooling gradient
//===----------------------------------------------------------------------===//

/// Per window of a max pool, the row-major index (kh * KW + kw) of its first maximal cell,
/// as i32 (N, OH, OW, C). Ties go to the smaller index whatever order the reduction runs in.
Value firstArgmax(OpBuilder &b, Location loc, Value x, RankedTensorType outType,
                  ArrayRef<int64_t> window, ArrayRef<int64_t> strides, bool same) {
  MLIRContext *ctx = b.getContext();
  Type elem = outType.getElementType();
  int64_t ones[2] = {1, 1};
  if (same)
    x = padSame(b, loc, x, window, strides, ones, -std::numeric_limits<double>::infinity());
  AffineExpr n, oh, ow, c, kh, kw;
  bindDims(ctx, n, oh, ow, c, kh, kw);
  SmallVector<AffineMap> maps = {
      AffineMap::get(6, 0, {n, oh * strides[0] + kh, ow * strides[1] + kw, c}, ctx),
      AffineMap::get(6, 0, {kh, kw}, ctx), AffineMap::get(6, 0, {n, oh, ow, c}, ctx),
      AffineMap::get(6, 0, {n, oh, ow, c}, ctx)};
  SmallVector<utils::IteratorType> iterators = parallelIterators(4);
  iterators.append(2, utils::IteratorType::reduction);
  Value windowTensor = tensor::EmptyOp::create(b, loc, window, elem);
  Value maxInit = filled(b, loc, emptyLike(b, loc, outType, x),
                         -std::numeric_limits<double>::infinity());
  auto idxType = RankedTensorType::get(outType.getShape(), b.getI32Type());
  Value idxInit = emptyLike(b, loc, idxType, x);
  Value big = arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(window[0] * window[1]));
  idxInit = linalg::FillOp::create(b, loc, big, idxInit).getResult(0);
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{outType, idxType}, ValueRange{x, windowTensor},
      ValueRange{maxInit, idxInit}, maps, iterators,
      [&](OpBuilder &nb, Location l, ValueRange a) {
        Value i = linalg::IndexOp::create(nb, l, 4);
        Value j = linalg::IndexOp::create(nb, l, 5);
        Value flat = arith::AddIOp::create(
            nb, l, arith::MulIOp::create(nb, l, i, iConst(nb, l, window[1])), j);
        flat = arith::IndexCastOp::create(nb, l, nb.getI32Type(), flat);
        Value v = a[0], best = a[2], bestIdx = a[3];
        Value greater = arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OGT, v, best);
        Value tie = arith::AndIOp::create(
            nb, l, arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OEQ, v, best),
            arith::CmpIOp::create(nb, l, arith::CmpIPredicate::slt, flat, bestIdx));
        Value take = arith::OrIOp::create(nb, l, greater, tie);
        linalg::YieldOp::create(nb, l,
                                ValueRange{arith::SelectOp::create(nb, l, take, v, best),
                                           arith::SelectOp::create(nb, l, take, flat, bestIdx)});
      });
  return generic.getResult(1);
}

/// Tiling windows (stride = pool size, no padding): each input cell lies in at most one
/// window, so dx is one parallel pass over the windows' cells. With x viewed as
/// (N, OH, PH, OW, PW, C), cell (n, i, p, j, q, c) gets dy[n, i, j, c] if it is its window's
/// first maximum (max; the window's cells are read through constant-offset maps) or
/// dy / (PH * PW) (avg). Cells past the last window (the forward's floor) get 0.
FailureOr<Value> tilingPoolGrad(OpBuilder &b, Location loc, Pool2DGradOp op, Value x, Value dy) {
  auto resultType = cast<RankedTensorType>(op.getType());
  auto xType = rankedType(x);
  auto dyType = rankedType(dy);
  Type elem = resultType.getElementType();
  ArrayRef<int64_t> window = op.getPoolSize(), strides = op.getStrides();
  bool isMax = op.getKind() == "max";
  int64_t covered[2];
  for (int d = 0; d < 2; ++d) {
    int64_t in = xType.getDimSize(d + 1), out = dyType.getDimSize(d + 1);
    if (strides[d] != window[d])
      return failure();
    if (op.getPadding() == "same") {
      auto [lo, hi] = samePadding(in, window[d], strides[d], 1);
      if (lo || hi)
        return failure();
    }
    covered[d] = out * window[d];
    if (covered[d] > in)
      return failure();
  }
  bool whole = covered[0] == xType.getDimSize(1) && covered[1] == xType.getDimSize(2);
  Value xs = x;
  if (!whole) {
    SmallVector<OpFoldResult> off(4, b.getIndexAttr(0)), one(4, b.getIndexAttr(1));
    SmallVector<OpFoldResult> size = {dimOf(b, loc, x, 0), b.getIndexAttr(covered[0]),
                                      b.getIndexAttr(covered[1]), dimOf(b, loc, x, 3)};
    xs = tensor::ExtractSliceOp::create(b, loc, x, off, size, one);
  }
  SmallVector<ReassociationIndices> reassoc = {{0}, {1, 2}, {3, 4}, {5}};
  SmallVector<int64_t> eShape = {xType.getDimSize(0), dyType.getDimSize(1), window[0],
                                 dyType.getDimSize(2), window[1], xType.getDimSize(3)};
  SmallVector<OpFoldResult> eSizes = {dimOf(b, loc, x, 0),        b.getIndexAttr(eShape[1]),
                                      b.getIndexAttr(eShape[2]), b.getIndexAttr(eShape[3]),
                                      b.getIndexAttr(eShape[4]), b.getIndexAttr(eShape[5])};
  auto eType = RankedTensorType::get(eShape, elem);
  MLIRContext *ctx = b.getContext();
  AffineExpr n, i, p, j, q, c;
  bindDims(ctx, n, i, p, j, q, c);
  SmallVector<Value> inputs = {dy};
  SmallVector<AffineMap> maps = {AffineMap::get(6, 0, {n, i, j, c}, ctx)};
  if (isMax) {
    Value xe = tensor::ExpandShapeOp::create(b, loc, eType, xs, reassoc, eSizes);
    for (int64_t a = 0; a < window[0]; ++a)
      for (int64_t bb = 0; bb < window[1]; ++bb) {
        inputs.push_back(xe);
        maps.push_back(AffineMap::get(
            6, 0, {n, i, getAffineConstantExpr(a, ctx), j, getAffineConstantExpr(bb, ctx), c},
            ctx));
      }
  }
  maps.push_back(AffineMap::getMultiDimIdentityMap(6, ctx));
  SmallVector<Value> dyn;
  if (eType.isDynamicDim(0))
    dyn.push_back(tensor::DimOp::create(b, loc, x, 0));
  Value init = tensor::EmptyOp::create(b, loc, eShape, elem, dyn);
  int64_t cells = window[0] * window[1];
  Value dxe =
      linalg::GenericOp::create(
          b, loc, TypeRange{eType}, inputs, ValueRange{init}, maps, parallelIterators(6),
          [&](OpBuilder &nb, Location l, ValueRange a) {
            Value g = a[0];
            if (!isMax) {
              linalg::YieldOp::create(
                  nb, l, Value(arith::DivFOp::create(nb, l, g, fConst(nb, l, elem, cells))));
              return;
            }
            // The first maximum as the forward's argmax finds it: starting from -inf and an
            // index past the window, a cell wins if greater, or equal while none has won.
            Value best = fConst(nb, l, elem, -std::numeric_limits<double>::infinity());
            Value none = arith::ConstantOp::create(nb, l, nb.getI32IntegerAttr(cells));
            Value bestIdx = none;
            for (int64_t k = 0; k < cells; ++k) {
              Value v = a[1 + k];
              Value greater = arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OGT, v, best);
              Value tie = arith::AndIOp::create(
                  nb, l, arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OEQ, v, best),
                  arith::CmpIOp::create(nb, l, arith::CmpIPredicate::eq, bestIdx, none));
              Value take = arith::OrIOp::create(nb, l, greater, tie);
              best = arith::SelectOp::create(nb, l, take, v, best);
              bestIdx = arith::SelectOp::create(
                  nb, l, take, arith::ConstantOp::create(nb, l, nb.getI32IntegerAttr(k)),
                  bestIdx);
            }
            Value flat = arith::AddIOp::create(
                nb, l,
                arith::MulIOp::create(nb, l, linalg::IndexOp::create(nb, l, 2),
                                      iConst(nb, l, window[1])),
                linalg::IndexOp::create(nb, l, 4));
            flat = arith::IndexCastOp::create(nb, l, nb.getI32Type(), flat);
            Value mine = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::eq, flat, bestIdx);
            linalg::YieldOp::create(
                nb, l, Value(arith::SelectOp::create(nb, l, mine, g, fConst(nb, l, elem, 0.0))));
          })
          .getResult(0);
  auto coveredType = RankedTensorType::get(
      {xType.getDimSize(0), covered[0], covered[1], xType.getDimSize(3)}, elem);
  Value dx = tensor::CollapseShapeOp::create(b, loc, coveredType, dxe, reassoc);
  if (whole)
    return dx;
  Value zeros = filled(b, loc, emptyLike(b, loc, resultType, x), 0.0);
  SmallVector<OpFoldResult> off(4, b.getIndexAttr(0)), one(4, b.getIndexAttr(1));
  return Value(tensor::InsertSliceOp::create(b, loc, dx, zeros, off,
                                             tensor::getMixedSizes(b, loc, dx), one));
}

/// Otherwise the gather form: each input cell (n, h, w, c) sums, over the window offsets (kh, kw) that
/// put it in window (oh, ow) = ((h + before - kh) / s, ...), the gradient of that window:
/// dy / (its number of valid cells) for avg, dy if the cell is the window's first maximum for
/// max.
struct Pool2DGradLowering : OpConversionPattern<Pool2DGradOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(Pool2DGradOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    if (failed(requireRanked(rewriter, op)))
      return failure();
    Value x = adaptor.getInput(), dy = adaptor.getGrad();
    if (failed(requireStaticSpatial(rewriter, op, {x, dy})))
      return failure();
    Location loc = op.getLoc();
    if (FailureOr<Value> fast = tilingPoolGrad(rewriter, loc, op, x, dy); succeeded(fast)) {
      rewriter.replaceOp(op, *fast);
      return success();
    }
    MLIRContext *ctx = rewriter.getContext();
    auto resultType = cast<RankedTensorType>(op.getType());
    auto dyType = rankedType(dy);
    Type elem = resultType.getElementType();
    ArrayRef<int64_t> window = op.getPoolSize(), strides = op.getStrides();
    bool same = op.getPadding() == "same", isMax = op.getKind() == "max";
    int64_t in[2] = {rankedType(x).getDimSize(1), rankedType(x).getDimSize(2)};
    int64_t out[2] = {dyType.getDimSize(1), dyType.getDimSize(2)};
    int64_t before[2] = {0, 0};
    if (same)
      for (int d = 0; d < 2; ++d)
        before[d] = samePadding(in[d], window[d], strides[d], 1).first;

    Value argmax;
    if (isMax)
      argmax = firstArgmax(rewriter, loc, x, dyType, window, strides, same);

    AffineExpr n, h, w, c, kh, kw;
    bindDims(ctx, n, h, w, c, kh, kw);
    SmallVector<AffineMap> maps = {AffineMap::get(6, 0, {kh, kw}, ctx),
                                   AffineMap::get(6, 0, {n, h, w, c}, ctx)};
    SmallVector<utils::IteratorType> iterators = parallelIterators(4);
    iterators.append(2, utils::IteratorType::reduction);
    Value windowTensor = tensor::EmptyOp::create(rewriter, loc, window, elem);
    Value init = filled(rewriter, loc, emptyLike(rewriter, loc, resultType, x), 0.0);
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{resultType}, ValueRange{windowTensor}, ValueRange{init}, maps,
        iterators, [&](OpBuilder &b, Location l, ValueRange a) {
          Value idx[6];
          for (int i = 0; i < 6; ++i)
            idx[i] = linalg::IndexOp::create(b, l, i);
          Value zero = iConst(b, l, 0);
          Value valid;
          Value o[2], count;
          for (int d = 0; d < 2; ++d) {
            // num = cell + before - offset must be a multiple of the stride in [0, out * s).
            Value num = arith::SubIOp::create(
                b, l, arith::AddIOp::create(b, l, idx[1 + d], iConst(b, l, before[d])),
                idx[4 + d]);
            Value s = iConst(b, l, strides[d]);
            Value nonNeg = arith::CmpIOp::create(b, l, arith::CmpIPredicate::sge, num, zero);
            Value clampedNum = arith::MaxSIOp::create(b, l, num, zero);
            Value q = arith::DivUIOp::create(b, l, clampedNum, s);
            Value exact = arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq,
                                                arith::RemUIOp::create(b, l, clampedNum, s),
                                                zero);
            Value inRange = arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, q,
                                                  iConst(b, l, out[d]));
            Value ok = arith::AndIOp::create(b, l, arith::AndIOp::create(b, l, nonNeg, exact),
                                             inRange);
            valid = valid ? arith::AndIOp::create(b, l, valid, ok).getResult() : ok;
            o[d] = arith::MinSIOp::create(b, l, q, iConst(b, l, out[d] - 1));
            if (!isMax) {
              // Valid cells of window o: [o*s - before, o*s - before + K) clipped to [0, in).
              Value start = arith::SubIOp::create(b, l, arith::MulIOp::create(b, l, o[d], s),
                                                  iConst(b, l, before[d]));
              Value lo = arith::MaxSIOp::create(b, l, start, zero);
              Value hi = arith::MinSIOp::create(
                  b, l, arith::AddIOp::create(b, l, start, iConst(b, l, window[d])),
                  iConst(b, l, in[d]));
              Value cells = arith::SubIOp::create(b, l, hi, lo);
              count = count ? arith::MulIOp::create(b, l, count, cells).getResult() : cells;
            }
          }
          SmallVector<Value> at = {idx[0], o[0], o[1], idx[3]};
          Value g = tensor::ExtractOp::create(b, l, dy, at);
          if (isMax) {
            Value flat = arith::AddIOp::create(
                b, l, arith::MulIOp::create(b, l, idx[4], iConst(b, l, window[1])), idx[5]);
            flat = arith::IndexCastOp::create(b, l, b.getI32Type(), flat);
            Value first = arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, flat,
                                                tensor::ExtractOp::create(b, l, argmax, at));
            valid = arith::AndIOp::create(b, l, valid, first);
          } else {
            Value countF = arith::SIToFPOp::create(
                b, l, elem, arith::IndexCastOp::create(b, l, b.getI64Type(), count));
            g = arith::DivFOp::create(b, l, g, countF);
          }
          Value contrib = arith::SelectOp::create(b, l, valid, g, fConst(b, l, elem, 0.0));
          linalg::YieldOp::create(b, l, Value(arith::AddFOp::create(b, l, a[1], contrib)));
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Broadcasting helpers, slices, masks
//===----------------------------------------------------------------------===//

struct BroadcastLikeLowering : OpConversionPattern<BroadcastLikeOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(BroadcastLikeOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    if (failed(requireRanked(rewriter, op)))
      return failure();
    auto type = cast<RankedTensorType>(op.getType());
    Value like = adaptor.getLike();
    if (rankedType(like).getRank() != type.getRank())
      return rewriter.notifyMatchFailure(op, "result and like have different ranks");
    auto r = buildBroadcast(rewriter, op.getLoc(), type, ValueRange{adaptor.getInput()}, like,
                            [](OpBuilder &, Location, ValueRange a) { return a[0]; });
    rewriter.replaceOp(op, *r);
    return success();
  }
};

struct SliceLowering : OpConversionPattern<SliceOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(SliceOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    if (failed(requireRanked(rewriter, op)))
      return failure();
    Location loc = op.getLoc();
    Value input = adaptor.getInput();
    int64_t rank = rankedType(input).getRank();
    // I64Attr getters return uint64_t: reinterpret as signed before normalizing.
    int64_t axis = static_cast<int64_t>(op.getAxis());
    if (axis < 0)
      axis += rank;
    SmallVector<OpFoldResult> offsets(rank, rewriter.getIndexAttr(0));
    SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(rewriter, loc, input);
    SmallVector<OpFoldResult> strides(rank, rewriter.getIndexAttr(1));
    offsets[axis] = rewriter.getIndexAttr(static_cast<int64_t>(op.getStart()));
    sizes[axis] = rewriter.getIndexAttr(static_cast<int64_t>(op.getSize()));
    Value r = tensor::ExtractSliceOp::create(rewriter, loc, input, offsets, sizes, strides);
    if (r.getType() != op.getType())
      r = tensor::CastOp::create(rewriter, loc, op.getType(), r);
    rewriter.replaceOp(op, r);
    return success();
  }
};

struct CompareLowering : OpConversionPattern<CompareOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(CompareOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    if (failed(requireRanked(rewriter, op)))
      return failure();
    auto pred = llvm::StringSwitch<std::optional<arith::CmpFPredicate>>(op.getPredicate())
                    .Case("eq", arith::CmpFPredicate::OEQ)
                    .Case("ne", arith::CmpFPredicate::UNE) // as C and NumPy: NaN != x
                    .Case("lt", arith::CmpFPredicate::OLT)
                    .Case("le", arith::CmpFPredicate::OLE)
                    .Case("gt", arith::CmpFPredicate::OGT)
                    .Case("ge", arith::CmpFPredicate::OGE)
                    .Default(std::nullopt);
    if (!pred)
      return rewriter.notifyMatchFailure(op, "unknown predicate");
    auto type = cast<RankedTensorType>(op.getType());
    auto r = buildBroadcast(rewriter, op.getLoc(), type,
                            ValueRange{adaptor.getLhs(), adaptor.getRhs()}, Value(),
                            [&](OpBuilder &b, Location l, ValueRange a) -> Value {
                              Value holds = arith::CmpFOp::create(b, l, *pred, a[0], a[1]);
                              Type t = type.getElementType();
                              return arith::SelectOp::create(b, l, holds, fConst(b, l, t, 1.0),
                                                             fConst(b, l, t, 0.0));
                            });
    if (failed(r))
      return rewriter.notifyMatchFailure(op, "no operand gives a dynamic result size");
    rewriter.replaceOp(op, *r);
    return success();
  }
};

/// Row n is 1.0 at column j where the label rounds to j (j - 0.5 <= label < j + 0.5): a label
/// outside [0, depth) matches no column.
struct OneHotLowering : OpConversionPattern<OneHotOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(OneHotOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    if (failed(requireRanked(rewriter, op)))
      return failure();
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Value labels = adaptor.getInput();
    auto type = cast<RankedTensorType>(op.getType());
    Type elem = type.getElementType();
    AffineExpr n = getAffineDimExpr(0, ctx);
    SmallVector<AffineExpr> in = {n};
    if (rankedType(labels).getRank() == 2)
      in.push_back(getAffineConstantExpr(0, ctx));
    SmallVector<AffineMap> maps = {AffineMap::get(2, 0, in, ctx),
                                   AffineMap::getMultiDimIdentityMap(2, ctx)};
    SmallVector<Value> dyn;
    if (type.isDynamicDim(0))
      dyn.push_back(tensor::DimOp::create(rewriter, loc, labels, 0));
    if (type.isDynamicDim(1))
      return rewriter.notifyMatchFailure(op, "expects a static depth in the result type");
    Value init = tensor::EmptyOp::create(rewriter, loc, type.getShape(), elem, dyn);
    Value r = linalg::GenericOp::create(
                  rewriter, loc, TypeRange{type}, ValueRange{labels}, ValueRange{init}, maps,
                  parallelIterators(2),
                  [&](OpBuilder &b, Location l, ValueRange a) {
                    Value j = linalg::IndexOp::create(b, l, 1);
                    Value jf = arith::SIToFPOp::create(
                        b, l, elem, arith::IndexCastOp::create(b, l, b.getI64Type(), j));
                    Value d = arith::SubFOp::create(b, l, a[0], jf);
                    Value lo = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGE, d,
                                                     fConst(b, l, elem, -0.5));
                    Value hi = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OLT, d,
                                                     fConst(b, l, elem, 0.5));
                    Value hit = arith::AndIOp::create(b, l, lo, hi);
                    linalg::YieldOp::create(
                        b, l,
                        Value(arith::SelectOp::create(b, l, hit, fConst(b, l, elem, 1.0),
                                                      fConst(b, l, elem, 0.0))));
                  })
                  .getResult(0);
    rewriter.replaceOp(op, r);
    return success();
  }
};



/// (..., K) and (..., N) collapse to (M, K) and (M, N); the kernel's gradient is one
/// contraction over M.
struct MatmulGradKernelLowering : OpConversionPattern<MatmulGradKernelOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(MatmulGradKernelOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    if (failed(requireRanked(rewriter, op)))
      return failure();
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    auto type = cast<RankedTensorType>(op.getType());
    Value x = adaptor.getInput(), dy = adaptor.getGrad();
    int64_t rank = rankedType(x).getRank();
    ReassociationIndices lead;
    for (int64_t i = 0; i + 1 < rank; ++i)
      lead.push_back(i);
    SmallVector<ReassociationIndices> reassoc = {lead, {rank - 1}};
    Value x2 = tensor::CollapseShapeOp::create(rewriter, loc, x, reassoc);
    Value dy2 = tensor::CollapseShapeOp::create(rewriter, loc, dy, reassoc);
    Value init = filled(rewriter, loc,
                        tensor::EmptyOp::create(rewriter, loc, type.getShape(),
                                                type.getElementType()),
                        0.0);
    // (k, n, m): out[k, n] += x[m, k] * dy[m, n]
    AffineExpr k = getAffineDimExpr(0, ctx), n = getAffineDimExpr(1, ctx),
               m = getAffineDimExpr(2, ctx);
    SmallVector<AffineMap> maps = {AffineMap::get(3, 0, {m, k}, ctx),
                                   AffineMap::get(3, 0, {m, n}, ctx),
                                   AffineMap::get(3, 0, {k, n}, ctx)};
    SmallVector<utils::IteratorType> iters = {utils::IteratorType::parallel,
                                              utils::IteratorType::parallel,
                                              utils::IteratorType::reduction};
    Value r = linalg::GenericOp::create(
                  rewriter, loc, TypeRange{type}, ValueRange{x2, dy2}, ValueRange{init}, maps,
                  iters,
                  [&](OpBuilder &b, Location l, ValueRange a) {
                    Value p = arith::MulFOp::create(b, l, a[0], a[1]);
                    linalg::YieldOp::create(b, l, Value(arith::AddFOp::create(b, l, a[2], p)));
                  })
                  .getResult(0);
    rewriter.replaceOp(op, r);
    return success();
  }
};

/// A zero table with each gradient row added to the row its index names: loops over the
/// (flattened) indices and the features, so the work is proportional to the gradient, not to
/// the table.
struct ScatterAddLowering : OpConversionPattern<ScatterAddOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(ScatterAddOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    if (failed(requireRanked(rewriter, op)))
      return failure();
    Location loc = op.getLoc();
    auto type = cast<RankedTensorType>(op.getType());
    if (!type.hasStaticShape())
      return rewriter.notifyMatchFailure(op, "expects a static table shape");
    int64_t rows = type.getDimSize(0), cols = type.getDimSize(1);
    Value ids = adaptor.getIndices(), grad = adaptor.getGrad();
    int64_t k = rankedType(ids).getRank();
    if (k == 0)
      return rewriter.notifyMatchFailure(op, "expects indices of rank >= 1");
    if (k > 1) {
      ReassociationIndices all;
      for (int64_t i = 0; i < k; ++i)
        all.push_back(i);
      ids = tensor::CollapseShapeOp::create(rewriter, loc, ids,
                                            SmallVector<ReassociationIndices>{all});
      grad = tensor::CollapseShapeOp::create(rewriter, loc, grad,
                                             SmallVector<ReassociationIndices>{all, {k}});
    }
    Value table = filled(rewriter, loc,
                         tensor::EmptyOp::create(rewriter, loc, type.getShape(),
                                                 type.getElementType()),
                         0.0);
    Value zero = iConst(rewriter, loc, 0), one = iConst(rewriter, loc, 1);
    Value count = tensor::DimOp::create(rewriter, loc, ids, 0);
    auto outer = scf::ForOp::create(
        rewriter, loc, zero, count, one, ValueRange{table},
        [&](OpBuilder &b, Location l, Value m, ValueRange acc) {
          Value id = tensor::ExtractOp::create(b, l, ids, ValueRange{m});
          Value row = clampedRowIndex(b, l, id, rows);
          auto inner = scf::ForOp::create(
              b, l, zero, iConst(b, l, cols), one, acc,
              [&](OpBuilder &b2, Location l2, Value d, ValueRange acc2) {
                Value g = tensor::ExtractOp::create(b2, l2, grad, ValueRange{m, d});
                Value cur = tensor::ExtractOp::create(b2, l2, acc2[0], ValueRange{row, d});
                Value sum = arith::AddFOp::create(b2, l2, cur, g);
                Value next =
                    tensor::InsertOp::create(b2, l2, sum, acc2[0], ValueRange{row, d});
                scf::YieldOp::create(b2, l2, next);
              });
          scf::YieldOp::create(b, l, inner.getResults());
        });
    rewriter.replaceOp(op, outer.getResult(0));
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Training-mode dropout: a Philox 4x32-10 mask, keyed by the seed, counting over
// (flat element index, step).
//===----------------------------------------------------------------------===//

/// Philox 4x32-10 (Salmon et al., as TensorFlow's stateless random ops use it) on a counter of
/// four i32 and a key of two; returns the four output words.
std::array<Value, 4> philox4(OpBuilder &b, Location loc, std::array<Value, 4> ctr,
                             std::array<Value, 2> key) {
  Type i32 = b.getI32Type();
  auto c = [&](uint32_t v) {
    return arith::ConstantOp::create(b, loc, i32, b.getI32IntegerAttr(static_cast<int32_t>(v)));
  };
  Value m0 = c(0xD2511F53u), m1 = c(0xCD9E8D57u), w0 = c(0x9E3779B9u), w1 = c(0xBB67AE85u);
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      key[0] = arith::AddIOp::create(b, loc, key[0], w0);
      key[1] = arith::AddIOp::create(b, loc, key[1], w1);
    }
    auto p0 = arith::MulUIExtendedOp::create(b, loc, m0, ctr[0]);
    auto p1 = arith::MulUIExtendedOp::create(b, loc, m1, ctr[2]);
    Value n0 = arith::XOrIOp::create(
        b, loc, arith::XOrIOp::create(b, loc, p1.getHigh(), ctr[1]), key[0]);
    Value n2 = arith::XOrIOp::create(
        b, loc, arith::XOrIOp::create(b, loc, p0.getHigh(), ctr[3]), key[1]);
    ctr = {n0, p1.getLow(), n2, p0.getLow()};
  }
  return ctr;
}

/// The first output word of philox4.
Value philox(OpBuilder &b, Location loc, std::array<Value, 4> ctr, std::array<Value, 2> key) {
  return philox4(b, loc, ctr, key)[0];
}

/// A linalg.generic over `like`'s shape whose body gets the four Philox words of each element
/// (counter: flat row-major index, step; key: seed) and yields `body`'s value.
FailureOr<Value> philoxGeneric(ConversionPatternRewriter &rewriter, Operation *op, Value like,
                               Value stepTensor, uint64_t seed,
                               function_ref<Value(OpBuilder &, Location, Value x,
                                                  std::array<Value, 4> bits)>
                                   body) {
  Location loc = op->getLoc();
  auto type = cast<RankedTensorType>(like.getType());
  int64_t rank = type.getRank();
  for (int64_t d = 1; d < rank; ++d)
    if (type.isDynamicDim(d))
      return failure();
  Value step = tensor::ExtractOp::create(rewriter, loc, stepTensor, ValueRange{});
  Value out = emptyLike(rewriter, loc, type, like);
  SmallVector<AffineMap> maps(2, rewriter.getMultiDimIdentityMap(rank));
  auto generic = linalg::GenericOp::create(
      rewriter, loc, TypeRange{type}, ValueRange{like}, ValueRange{out}, maps,
      parallelIterators(rank), [&](OpBuilder &b, Location l, ValueRange args) {
        Type i64 = b.getI64Type(), i32 = b.getI32Type();
        Value flat = arith::ConstantOp::create(b, l, i64, b.getI64IntegerAttr(0));
        int64_t stride = 1;
        for (int64_t d = rank - 1; d >= 0; --d) {
          Value idx = arith::IndexCastOp::create(b, l, i64, linalg::IndexOp::create(b, l, d));
          Value term = arith::MulIOp::create(
              b, l, idx, arith::ConstantOp::create(b, l, i64, b.getI64IntegerAttr(stride)));
          flat = arith::AddIOp::create(b, l, flat, term);
          if (d > 0)
            stride *= type.getDimSize(d);
        }
        auto lo = [&](Value v) { return arith::TruncIOp::create(b, l, i32, v).getResult(); };
        auto hi = [&](Value v) {
          Value sh = arith::ShRUIOp::create(
              b, l, v, arith::ConstantOp::create(b, l, i64, b.getI64IntegerAttr(32)));
          return arith::TruncIOp::create(b, l, i32, sh).getResult();
        };
        auto k = [&](uint32_t v) {
          return arith::ConstantOp::create(b, l, i32,
                                           b.getI32IntegerAttr(static_cast<int32_t>(v)))
              .getResult();
        };
        auto bits = philox4(b, l, {lo(flat), hi(flat), lo(step), hi(step)},
                            {k(static_cast<uint32_t>(seed)), k(static_cast<uint32_t>(seed >> 32))});
        linalg::YieldOp::create(b, l, body(b, l, args[0], bits));
      });
  return generic.getResult(0);
}

struct DropoutTrainingLowering : OpConversionPattern<DropoutOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(DropoutOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    if (!op.getTraining() || !adaptor.getStep())
      return failure();
    if (failed(requireRanked(rewriter, op)))
      return failure();
    Location loc = op.getLoc();
    Value x = adaptor.getInput();
    auto type = cast<RankedTensorType>(x.getType());
    int64_t rank = type.getRank();
    for (int64_t d = 1; d < rank; ++d)
      if (type.isDynamicDim(d))
        return rewriter.notifyMatchFailure(op, "only the batch may be dynamic");
    double rate = op.getRate().convertToDouble();
    uint64_t seed = static_cast<uint64_t>(op.getSeed());
    Value step = tensor::ExtractOp::create(rewriter, loc, adaptor.getStep(), ValueRange{});
    Value out = emptyLike(rewriter, loc, type, x);
    SmallVector<AffineMap> maps(2, rewriter.getMultiDimIdentityMap(rank));
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{type}, ValueRange{x}, ValueRange{out}, maps,
        parallelIterators(rank), [&](OpBuilder &b, Location l, ValueRange args) {
          Type i64 = b.getI64Type(), i32 = b.getI32Type();
          // Row-major flat index; only dimension 0 may be dynamic, and it has the largest
          // stride, so the strides are constants.
          Value flat = arith::ConstantOp::create(b, l, i64, b.getI64IntegerAttr(0));
          int64_t stride = 1;
          for (int64_t d = rank - 1; d >= 0; --d) {
            Value idx = arith::IndexCastOp::create(b, l, i64, linalg::IndexOp::create(b, l, d));
            Value term = arith::MulIOp::create(
                b, l, idx, arith::ConstantOp::create(b, l, i64, b.getI64IntegerAttr(stride)));
            flat = arith::AddIOp::create(b, l, flat, term);
            if (d > 0)
              stride *= type.getDimSize(d);
          }
          auto lo = [&](Value v) { return arith::TruncIOp::create(b, l, i32, v).getResult(); };
          auto hi = [&](Value v) {
            Value sh = arith::ShRUIOp::create(
                b, l, v, arith::ConstantOp::create(b, l, i64, b.getI64IntegerAttr(32)));
            return arith::TruncIOp::create(b, l, i32, sh).getResult();
          };
          auto k = [&](uint32_t v) {
            return arith::ConstantOp::create(b, l, i32,
                                             b.getI32IntegerAttr(static_cast<int32_t>(v)))
                .getResult();
          };
          Value bits = philox(b, l, {lo(flat), hi(flat), lo(step), hi(step)},
                              {k(static_cast<uint32_t>(seed)), k(static_cast<uint32_t>(seed >> 32))});
          // The top 24 bits as a uniform float in [0, 1); keep where u >= rate.
          Value top = arith::ShRUIOp::create(b, l, bits, k(8));
          Value u = arith::MulFOp::create(
              b, l, arith::UIToFPOp::create(b, l, b.getF32Type(), top),
              fConst(b, l, b.getF32Type(), 1.0 / 16777216.0));
          Value keep = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGE, u,
                                             fConst(b, l, b.getF32Type(), rate));
          Value scaled = arith::MulFOp::create(b, l, args[0],
                                               fConst(b, l, b.getF32Type(), 1.0 / (1.0 - rate)));
          Value y = arith::SelectOp::create(b, l, keep, scaled,
                                            fConst(b, l, b.getF32Type(), 0.0));
          linalg::YieldOp::create(b, l, y);
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};

/// Box-Muller on two Philox words: u1 in (0, 1] and u2 in [0, 1) from their top 24 bits,
/// n = sqrt(-2 log u1) cos(2 pi u2).
struct RandomNormalLowering : OpConversionPattern<RandomNormalOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(RandomNormalOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    if (failed(requireRanked(rewriter, op)))
      return failure();
    auto r = philoxGeneric(
        rewriter, op, adaptor.getLike(), adaptor.getStep(), static_cast<uint64_t>(op.getSeed()),
        [](OpBuilder &b, Location l, Value, std::array<Value, 4> bits) -> Value {
          Type f32 = b.getF32Type(), i32 = b.getI32Type();
          auto uniform = [&](Value w, double offset) {
            Value top = arith::ShRUIOp::create(
                b, l, w, arith::ConstantOp::create(b, l, i32, b.getI32IntegerAttr(8)));
            Value f = arith::UIToFPOp::create(b, l, f32, top);
            f = arith::AddFOp::create(b, l, f, fConst(b, l, f32, offset));
            return arith::MulFOp::create(b, l, f, fConst(b, l, f32, 1.0 / 16777216.0))
                .getResult();
          };
          Value u1 = uniform(bits[0], 1.0), u2 = uniform(bits[1], 0.0);
          Value radius = math::SqrtOp::create(
              b, l, arith::MulFOp::create(b, l, fConst(b, l, f32, -2.0),
                                          math::LogOp::create(b, l, u1)));
          Value angle = arith::MulFOp::create(b, l, u2, fConst(b, l, f32, 6.283185307179586));
          return arith::MulFOp::create(b, l, radius, math::CosOp::create(b, l, angle));
        });
    if (failed(r))
      return rewriter.notifyMatchFailure(op, "only the batch may be dynamic");
    rewriter.replaceOp(op, *r);
    return success();
  }
};

} // namespace

void populateKilnGradToLinalgPatterns(RewritePatternSet &patterns) {
  patterns.add<UnaryGradLowering, Conv2DGradInputLowering, Conv2DGradKernelLowering,
               Pool2DGradLowering, BroadcastLikeLowering, SliceLowering, CompareLowering,
               OneHotLowering, DropoutTrainingLowering, RandomNormalLowering, ScatterAddLowering,
               MatmulGradKernelLowering>(
      patterns.getContext());
}

} // namespace mlir::kiln
