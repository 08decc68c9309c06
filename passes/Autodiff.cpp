//===- Autodiff.cpp - reverse-mode differentiation of kiln functions -------===//
//
// kiln.grad %loss wrt %v... is replaced by the adjoints of %v: the ops %loss depends on are
// visited in reverse order, each op's rule turns the adjoints of its results into adjoints of
// its operands, and adjoints reaching one value from several uses are added.
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"
#include "ir/ShapeFunctions.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SetVector.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNAUTODIFF
#include "passes/Passes.h.inc"

namespace {

RankedTensorType typeOf(Value v) { return cast<RankedTensorType>(v.getType()); }

RankedTensorType withShape(RankedTensorType t, ArrayRef<int64_t> shape) {
  return RankedTensorType::get(shape, t.getElementType());
}

/// Emits the backward ops of one kiln.grad.
class Differentiator {
public:
  Differentiator(OpBuilder &b, Location loc) : b(b), loc(loc) {}

  /// Scalar f32 constant.
  Value scalar(double v) {
    auto t = RankedTensorType::get({}, b.getF32Type());
    return ConstantOp::create(b, loc, t, DenseElementsAttr::get(t, static_cast<float>(v)));
  }

  /// Sums `g` down to the shape of `target` (the adjoint of NumPy broadcasting).
  Value unbroadcast(Value g, Value target) {
    auto gt = typeOf(g), tt = typeOf(target);
    if (gt.getShape() == tt.getShape())
      return g;
    int64_t extra = gt.getRank() - tt.getRank();
    if (extra > 0) {
      SmallVector<int64_t> axes, shape;
      for (int64_t i = 0; i < extra; ++i)
        axes.push_back(i);
      shape.assign(gt.getShape().begin() + extra, gt.getShape().end());
      g = ReduceSumOp::create(b, loc, withShape(gt, shape), g, b.getDenseI64ArrayAttr(axes),
                              b.getBoolAttr(false));
      gt = typeOf(g);
    }
    SmallVector<int64_t> ones;
    for (int64_t i = 0; i < tt.getRank(); ++i)
      if (tt.getDimSize(i) == 1 && gt.getDimSize(i) != 1)
        ones.push_back(i);
    if (!ones.empty()) {
      SmallVector<int64_t> shape(gt.getShape());
      for (int64_t i : ones)
        shape[i] = 1;
      g = ReduceSumOp::create(b, loc, withShape(gt, shape), g, b.getDenseI64ArrayAttr(ones),
                              b.getBoolAttr(true));
    }
    return g;
  }

  /// Broadcasts `v` (a reduction of `like` over `axes`, with or without kept dimensions) back
  /// to the shape of `like`.
  FailureOr<Value> unreduce(Value v, Value like, ArrayRef<int64_t> axes, bool keepdims) {
    auto lt = typeOf(like);
    SmallVector<int64_t> norm;
    for (int64_t a : axes)
      norm.push_back(a < 0 ? a + lt.getRank() : a);
    llvm::sort(norm);
    if (!keepdims && !norm.empty()) {
      bool prefix = true;
      for (size_t i = 0; i < norm.size(); ++i)
        prefix &= norm[i] == static_cast<int64_t>(i);
      if (!prefix) {
        // Put the reduced dimensions back as 1s; kiln.reshape keeps the batch dimension.
        if (norm.front() == 0)
          return failure();
        SmallVector<int64_t> sample(lt.getShape().drop_front());
        for (int64_t a : norm)
          sample[a - 1] = 1;
        SmallVector<int64_t> full = {lt.getDimSize(0)};
        full.append(sample.begin(), sample.end());
        v = ReshapeOp::create(b, loc, withShape(lt, full), v, b.getDenseI64ArrayAttr(sample));
      }
    }
    return BroadcastLikeOp::create(b, loc, lt, v, like).getResult();
  }

  Value add(Value a, Value c) { return AddOp::create(b, loc, a.getType(), a, c); }
  Value mul(Value a, Value c, Type t) { return MulOp::create(b, loc, t, a, c); }

  /// The rule of `op`: adjoints of `op`'s operands (null where none) from `dys`, the adjoints
  /// of its results (null where none reached).
  FailureOr<SmallVector<Value>> rule(Operation *op, ArrayRef<Value> dys,
                                     const llvm::DenseSet<Value> &needed);

private:
  OpBuilder &b;
  Location loc;
};

FailureOr<SmallVector<Value>> Differentiator::rule(Operation *op, ArrayRef<Value> dys,
                                                   const llvm::DenseSet<Value> &needed) {
  SmallVector<Value> dx(op->getNumOperands());
  Value dy = dys.empty() ? Value() : dys[0];
  auto need = [&](unsigned i) { return needed.contains(op->getOperand(i)); };

  auto unary = [&](StringRef kind, ArrayRef<NamedAttribute> extra = {}) {
    Value x = op->getOperand(0);
    auto g = UnaryGradOp::create(b, loc, x.getType(), x, dy, b.getStringAttr(kind),
                                 FloatAttr(), FloatAttr(), FloatAttr(), BoolAttr());
    for (const NamedAttribute &a : extra)
      g->setAttr(a.getName(), a.getValue());
    dx[0] = g;
  };

  if (isa<ReluOp>(op))
    unary("relu");
  else if (isa<SigmoidOp>(op))
    unary("sigmoid");
  else if (isa<TanhOp>(op))
    unary("tanh");
  else if (isa<SeluOp>(op))
    unary("selu");
  else if (isa<SoftplusOp>(op))
    unary("softplus");
  else if (isa<SoftsignOp>(op))
    unary("softsign");
  else if (isa<SiluOp>(op))
    unary("silu");
  else if (isa<ExpOp>(op))
    unary("exp");
  else if (isa<LogOp>(op))
    unary("log");
  else if (isa<SqrtOp>(op))
    unary("sqrt");
  else if (isa<AbsOp>(op))
    unary("abs");
  else if (isa<SquareOp>(op))
    unary("square");
  else if (auto e = dyn_cast<EluOp>(op))
    unary("elu", {b.getNamedAttr("alpha", e.getAlphaAttr())});
  else if (auto e = dyn_cast<LeakyReluOp>(op))
    unary("leaky_relu", {b.getNamedAttr("alpha", e.getAlphaAttr())});
  else if (auto h = dyn_cast<HardSigmoidOp>(op))
    unary("hard_sigmoid", {b.getNamedAttr("slope", h.getSlopeAttr()),
                           b.getNamedAttr("offset", h.getOffsetAttr())});
  else if (auto g = dyn_cast<GeluOp>(op))
    unary("gelu", {b.getNamedAttr("approximate", g.getApproximateAttr())});
  else if (isa<NegOp>(op))
    dx[0] = NegOp::create(b, loc, dy.getType(), dy);
  else if (auto d = dyn_cast<DropoutOp>(op)) {
    // The mask is a function of (seed, step, index): dropping dy with the same op drops the
    // same elements and scales the kept ones alike.
    if (d.getTraining())
      dx[0] = DropoutOp::create(b, loc, dy.getType(), dy, d.getStep(), d.getRateAttr(),
                                d.getSeedAttr(), d.getTrainingAttr());
    else
      dx[0] = dy;
  } else if (isa<AddOp, SubOp, MulOp, DivOp, MaximumOp, MinimumOp>(op)) {
    Value l = op->getOperand(0), r = op->getOperand(1);
    Type t = dy.getType();
    Value gl, gr;
    if (isa<AddOp>(op)) {
      gl = dy;
      gr = dy;
    } else if (isa<SubOp>(op)) {
      gl = dy;
      if (need(1))
        gr = NegOp::create(b, loc, t, dy);
    } else if (isa<MulOp>(op)) {
      if (need(0))
        gl = mul(dy, r, t);
      if (need(1))
        gr = mul(dy, l, t);
    } else if (isa<DivOp>(op)) {
      if (need(0))
        gl = DivOp::create(b, loc, t, dy, r);
      if (need(1)) {
        // d(l/r)/dr = -(l/r)/r
        Value q = DivOp::create(b, loc, t, op->getResult(0), r);
        gr = NegOp::create(b, loc, t, mul(dy, q, t));
      }
    } else {
      StringRef pred = isa<MaximumOp>(op) ? "ge" : "le";
      Value m = CompareOp::create(b, loc, t, l, r, b.getStringAttr(pred));
      Value gm = mul(dy, m, t);
      if (need(0))
        gl = gm;
      if (need(1))
        gr = SubOp::create(b, loc, t, dy, gm);
    }
    if (need(0) && gl)
      dx[0] = unbroadcast(gl, l);
    if (need(1) && gr)
      dx[1] = unbroadcast(gr, r);
  } else if (auto mm = dyn_cast<MatmulOp>(op)) {
    Value a = mm.getLhs(), w = mm.getRhs();
    auto at = typeOf(a), wt = typeOf(w);
    if (need(0)) {
      auto wT = TransposeOp::create(
          b, loc, withShape(wt, {wt.getDimSize(1), wt.getDimSize(0)}), w,
          b.getDenseI64ArrayAttr({1, 0}));
      dx[0] = MatmulOp::create(b, loc, at, dy, wT);
    }
    if (need(1) && at.getRank() > 2) {
      dx[1] = MatmulGradKernelOp::create(b, loc, wt, a, dy);
    } else if (need(1)) {
      if (at.getRank() != 2)
        return failure();
      auto aT = TransposeOp::create(
          b, loc, withShape(at, {at.getDimSize(1), at.getDimSize(0)}), a,
          b.getDenseI64ArrayAttr({1, 0}));
      dx[1] = MatmulOp::create(b, loc, wt, aT, dy);
    }
  } else if (auto c = dyn_cast<Conv2DOp>(op)) {
    if (need(0))
      dx[0] = Conv2DGradInputOp::create(b, loc, c.getInput().getType(), dy, c.getKernel(),
                                        c.getStridesAttr(), c.getDilationsAttr(),
                                        c.getPaddingAttr());
    if (need(1))
      dx[1] = Conv2DGradKernelOp::create(b, loc, c.getKernel().getType(), c.getInput(), dy,
                                         c.getStridesAttr(), c.getDilationsAttr(),
                                         c.getPaddingAttr());
  } else if (auto c = dyn_cast<Conv2DGradInputOp>(op)) {
    // As a forward op it is the transposed convolution (Keras' Conv2DTranspose), y = A^T g for
    // the conv's linear map A: dg = A dy is the conv of dy, dk the conv's kernel gradient with
    // dy as its input and g as its output gradient.
    if (need(0))
      dx[0] = Conv2DOp::create(b, loc, c.getGrad().getType(), dy, c.getKernel(),
                               c.getStridesAttr(), c.getDilationsAttr(), c.getPaddingAttr());
    if (need(1))
      dx[1] = Conv2DGradKernelOp::create(b, loc, c.getKernel().getType(), dy, c.getGrad(),
                                         c.getStridesAttr(), c.getDilationsAttr(),
                                         c.getPaddingAttr());
  } else if (auto p = dyn_cast<MaxPool2DOp>(op)) {
    dx[0] = Pool2DGradOp::create(b, loc, p.getInput().getType(), p.getInput(), dy,
                                 b.getStringAttr("max"), p.getPoolSizeAttr(),
                                 p.getStridesAttr(), p.getPaddingAttr());
  } else if (auto p = dyn_cast<AvgPool2DOp>(op)) {
    dx[0] = Pool2DGradOp::create(b, loc, p.getInput().getType(), p.getInput(), dy,
                                 b.getStringAttr("avg"), p.getPoolSizeAttr(),
                                 p.getStridesAttr(), p.getPaddingAttr());
  } else if (auto r = dyn_cast<ReshapeOp>(op)) {
    auto xt = typeOf(r.getInput());
    if (xt.getRank() < 1)
      return failure();
    dx[0] = ReshapeOp::create(b, loc, xt, dy,
                              b.getDenseI64ArrayAttr(xt.getShape().drop_front()));
  } else if (auto tr = dyn_cast<TransposeOp>(op)) {
    ArrayRef<int64_t> perm = tr.getPerm();
    SmallVector<int64_t> inv(perm.size());
    for (size_t i = 0; i < perm.size(); ++i)
      inv[perm[i]] = i;
    dx[0] = TransposeOp::create(b, loc, tr.getInput().getType(), dy,
                                b.getDenseI64ArrayAttr(inv));
  } else if (auto cc = dyn_cast<ConcatOp>(op)) {
    auto yt = typeOf(cc.getResult());
    int64_t axis = static_cast<int64_t>(cc.getAxis());
    if (axis < 0)
      axis += yt.getRank();
    int64_t offset = 0;
    for (unsigned i = 0; i < op->getNumOperands(); ++i) {
      auto it = typeOf(op->getOperand(i));
      int64_t size = it.getDimSize(axis);
      if (ShapedType::isDynamic(size))
        return failure();
      if (need(i))
        dx[i] = SliceOp::create(b, loc, it, dy, b.getI64IntegerAttr(axis),
                                b.getI64IntegerAttr(offset), b.getI64IntegerAttr(size));
      offset += size;
    }
  } else if (auto p = dyn_cast<PadOp>(op)) {
    // The padded cells get no gradient: slice the input's cells back out, one axis at a time.
    Value g = dy;
    auto xt = typeOf(p.getInput());
    for (int64_t i = 0; i < xt.getRank(); ++i) {
      int64_t lo = p.getLow()[i], hi = p.getHigh()[i];
      if (lo == 0 && hi == 0)
        continue;
      if (xt.isDynamicDim(i))
        return failure();
      SmallVector<int64_t> shape(typeOf(g).getShape());
      shape[i] = xt.getDimSize(i);
      g = SliceOp::create(b, loc, withShape(xt, shape), g, b.getI64IntegerAttr(i),
                          b.getI64IntegerAttr(lo), b.getI64IntegerAttr(xt.getDimSize(i)));
    }
    dx[0] = g;
  } else if (auto sl = dyn_cast<SliceOp>(op)) {
    auto xt = typeOf(sl.getInput());
    int64_t axis = static_cast<int64_t>(sl.getAxis());
    if (axis < 0)
      axis += xt.getRank();
    if (xt.isDynamicDim(axis))
      return failure();
    SmallVector<int64_t> low(xt.getRank(), 0), high(xt.getRank(), 0);
    low[axis] = static_cast<int64_t>(sl.getStart());
    high[axis] = xt.getDimSize(axis) - low[axis] - static_cast<int64_t>(sl.getSize());
    dx[0] = PadOp::create(b, loc, xt, dy, b.getDenseI64ArrayAttr(low),
                          b.getDenseI64ArrayAttr(high));
  } else if (auto g = dyn_cast<GatherOp>(op)) {
    // Indices are integers: only the table has a gradient.
    if (need(0))
      dx[0] = ScatterAddOp::create(b, loc, g.getTable().getType(), g.getIndices(), dy);
  } else if (auto s = dyn_cast<SoftmaxOp>(op)) {
    // dx = y * (dy - sum(dy * y, axis, keepdims))
    Value y = s.getResult();
    auto yt = typeOf(y);
    int64_t axis = static_cast<int64_t>(s.getAxis());
    if (axis < 0)
      axis += yt.getRank();
    SmallVector<int64_t> kept(yt.getShape());
    kept[axis] = 1;
    Value dyy = mul(dy, y, yt);
    Value sum = ReduceSumOp::create(b, loc, withShape(yt, kept), dyy,
                                    b.getDenseI64ArrayAttr({axis}), b.getBoolAttr(true));
    Value diff = SubOp::create(b, loc, yt, dy, sum);
    dx[0] = mul(y, diff, yt);
  } else if (auto r = dyn_cast<ReduceSumOp>(op)) {
    auto v = unreduce(dy, r.getInput(), r.getAxes(), r.getKeepdims());
    if (failed(v))
      return failure();
    dx[0] = *v;
  } else if (auto r = dyn_cast<ReduceMeanOp>(op)) {
    auto v = unreduce(dy, r.getInput(), r.getAxes(), r.getKeepdims());
    if (failed(v))
      return failure();
    // The count of reduced cells, computed in the IR since the batch is dynamic.
    auto xt = typeOf(r.getInput());
    Value ones = BroadcastLikeOp::create(b, loc, xt, scalar(1.0), r.getInput());
    Value count = ReduceSumOp::create(b, loc, r.getResult().getType(), ones, r.getAxesAttr(),
                                      r.getKeepdimsAttr());
    auto c = unreduce(count, r.getInput(), r.getAxes(), r.getKeepdims());
    if (failed(c))
      return failure();
    dx[0] = DivOp::create(b, loc, xt, *v, *c);
  } else if (auto r = dyn_cast<ReduceMaxOp>(op)) {
    // Ties share the gradient equally, as TensorFlow's reduce_max does.
    auto xt = typeOf(r.getInput());
    auto y = unreduce(r.getResult(), r.getInput(), r.getAxes(), r.getKeepdims());
    auto g = unreduce(dy, r.getInput(), r.getAxes(), r.getKeepdims());
    if (failed(y) || failed(g))
      return failure();
    Value m = CompareOp::create(b, loc, xt, r.getInput(), *y, b.getStringAttr("eq"));
    Value count = ReduceSumOp::create(b, loc, r.getResult().getType(), m, r.getAxesAttr(),
                                      r.getKeepdimsAttr());
    auto c = unreduce(count, r.getInput(), r.getAxes(), r.getKeepdims());
    if (failed(c))
      return failure();
    dx[0] = DivOp::create(b, loc, xt, mul(m, *g, xt), *c);
  } else if (isa<BroadcastLikeOp>(op)) {
    if (need(0))
      dx[0] = unbroadcast(dy, op->getOperand(0));
  } else if (isa<ConstantOp, CompareOp, OneHotOp, RandomNormalOp>(op)) {
    // Constants, masks and noise: no gradient flows through them.
  } else {
    return failure();
  }
  return dx;
}

LogicalResult expand(GradOp grad) {
  Block *block = grad->getBlock();
  Value loss = grad.getLoss();

  // Values that depend on some wrt value (forward slice within the block).
  llvm::DenseSet<Value> needed(grad.getWrt().begin(), grad.getWrt().end());
  for (Operation &op : *block) {
    if (&op == grad.getOperation())
      break;
    if (llvm::any_of(op.getOperands(), [&](Value v) { return needed.contains(v); }))
      for (Value r : op.getResults())
        needed.insert(r);
  }

  OpBuilder b(grad);
  Differentiator d(b, grad.getLoc());
  llvm::DenseMap<Value, Value> adjoint;
  if (needed.contains(loss))
    adjoint[loss] = d.scalar(1.0);

  // Reverse walk over the ops before the kiln.grad.
  SmallVector<Operation *> ops;
  for (Operation &op : *block) {
    if (&op == grad.getOperation())
      break;
    ops.push_back(&op);
  }
  for (Operation *op : llvm::reverse(ops)) {
    SmallVector<Value> dys;
    bool any = false;
    for (Value r : op->getResults()) {
      Value a = adjoint.lookup(r);
      dys.push_back(a);
      any |= static_cast<bool>(a);
    }
    if (!any)
      continue;
    if (!llvm::any_of(op->getOperands(), [&](Value v) { return needed.contains(v); }))
      continue;
    b.setInsertionPoint(grad);
    Differentiator rd(b, op->getLoc());
    // Results without an adjoint contribute zeros; every rule here has one result.
    if (op->getNumResults() != 1)
      return emitKilnOpError(op->getLoc(), op->getName().stripDialect(),
                             "has no gradient rule (kiln-autodiff)");
    auto dx = rd.rule(op, dys, needed);
    if (failed(dx))
      return emitKilnOpError(op->getLoc(), op->getName().stripDialect(),
                             "has no gradient rule for this form (kiln-autodiff)");
    for (auto [operand, g] : llvm::zip(op->getOperands(), *dx)) {
      if (!g || !needed.contains(operand))
        continue;
      Value &slot = adjoint[operand];
      slot = slot ? rd.add(slot, g) : g;
    }
  }

  b.setInsertionPoint(grad);
  for (auto [w, res] : llvm::zip(grad.getWrt(), grad.getGrads())) {
    Value g = adjoint.lookup(w);
    if (!g) // the loss does not depend on w
      g = BroadcastLikeOp::create(b, grad.getLoc(), w.getType(), d.scalar(0.0), w);
    res.replaceAllUsesWith(g);
  }
  grad.erase();
  return success();
}

struct AutodiffPass : impl::KilnAutodiffBase<AutodiffPass> {
  void runOnOperation() override {
    SmallVector<GradOp> grads;
    getOperation().walk([&](GradOp g) { grads.push_back(g); });
    for (GradOp g : grads)
      if (failed(expand(g)))
        return signalPassFailure();
  }
};

} // namespace
} // namespace mlir::kiln
