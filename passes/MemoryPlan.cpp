//===- MemoryPlan.cpp - static buffer planning into one caller-provided workspace -===//
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/MathExtras.h"

namespace mlir::kiln {

#define GEN_PASS_DEF_KILNPLANMEMORY
#include "passes/Passes.h.inc"

namespace {

/// Every buffer starts on a cache line; sizes are rounded so that offsets stay aligned.
constexpr int64_t kAlignment = 64;

/// `a * batch + b` bytes, batch >= 1.
struct Affine {
  int64_t a = 0, b = 0;
  Affine operator+(Affine o) const { return {a + o.a, b + o.b}; }
  int64_t at(int64_t batch) const { return a * batch + b; }
  /// Whether this <= `o` for every batch >= 1 (both are linear, so checking the slope and the
  /// value at 1 suffices).
  bool le(Affine o) const { return a <= o.a && at(1) <= o.at(1); }
  bool operator==(const Affine &o) const { return a == o.a && b == o.b; }
};

struct Buffer {
  Operation *alloc;
  Affine size;      // aligned
  int64_t rawBytes; // bytes at batch 1, unaligned, for the naive sum
  Affine rawSize;
  unsigned start, end; // live range over the top-level ops, inclusive
  Affine offset;
  bool placed = false;
};

bool isBatch(Value v);

/// Whether the first dimension of the memref `m` is the batch: a function argument with a
/// dynamic first dimension (every dynamic dimension in kiln is the batch), a buffer allocated
/// with the batch, or a reshape or cast that keeps the first dimension.
bool hasBatchDim0(Value m) {
  auto type = dyn_cast<MemRefType>(m.getType());
  if (!type || type.getRank() == 0 || !type.isDynamicDim(0))
    return false;
  if (auto arg = dyn_cast<BlockArgument>(m))
    return isa<FunctionOpInterface>(arg.getOwner()->getParentOp());
  Operation *def = m.getDefiningOp();
  if (isa<memref::AllocOp, memref::AllocaOp>(def))
    return def->getNumOperands() >= 1 && isBatch(def->getOperand(0));
  if (auto c = dyn_cast<memref::CollapseShapeOp>(def))
    return c.getReassociationIndices()[0] == ReassociationIndices{0} && hasBatchDim0(c.getSrc());
  if (auto e = dyn_cast<memref::ExpandShapeOp>(def))
    return e.getReassociationIndices()[0] == ReassociationIndices{0} && hasBatchDim0(e.getSrc());
  if (auto c = dyn_cast<memref::CastOp>(def))
    return hasBatchDim0(c.getSource());
  return false;
}

/// Whether `v` is the batch: `memref.dim %m, 0` of a memref whose first dimension is.
bool isBatch(Value v) {
  auto dim = v.getDefiningOp<memref::DimOp>();
  if (!dim)
    return false;
  std::optional<int64_t> index = dim.getConstantIndex();
  return index && *index == 0 && hasBatchDim0(dim.getSource());
}

/// The first function argument with a dynamic first dimension, or null.
std::optional<unsigned> batchArgument(func::FuncOp func) {
  for (auto [i, type] : llvm::enumerate(func.getArgumentTypes()))
    if (auto m = dyn_cast<MemRefType>(type); m && m.getRank() > 0 && m.isDynamicDim(0))
      return i;
  return std::nullopt;
}

int64_t elementBytes(Type t) {
  if (t.isIndex())
    return 8;
  if (t.isIntOrFloat())
    return (t.getIntOrFloatBitWidth() + 7) / 8;
  return -1;
}

struct PlanMemory : impl::KilnPlanMemoryBase<PlanMemory> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<NamedAttribute> plans;
    for (func::FuncOp func : llvm::to_vector(module.getOps<func::FuncOp>())) {
      if (func.isExternal() || !func.isPublic())
        continue;
      FailureOr<DictionaryAttr> plan = planFunction(func);
      if (failed(plan))
        return signalPassFailure();
      plans.emplace_back(func.getSymNameAttr(), *plan);
    }
    module->setAttr("kiln.memory_plan", DictionaryAttr::get(&getContext(), plans));
  }

  FailureOr<DictionaryAttr> planFunction(func::FuncOp func) {
    MLIRContext *ctx = &getContext();
    if (!func.getBody().hasOneBlock())
      return func.emitError("kiln-plan-memory: needs a function with one block (run it before "
                            "lowering control flow)");
    Block &body = func.getBody().front();
    DenseMap<Operation *, unsigned> position;
    for (auto [i, op] : llvm::enumerate(body))
      position[&op] = i;

    // Buffers and their live ranges.
    SmallVector<Buffer> buffers;
    bool failedSome = false;
    func.walk([&](Operation *op) {
      if (!isa<memref::AllocOp, memref::AllocaOp>(op))
        return;
      auto type = cast<MemRefType>(op->getResult(0).getType());
      int64_t elem = elementBytes(type.getElementType());
      if (!type.getLayout().isIdentity() || elem < 0) {
        op->emitError("kiln-plan-memory: cannot place a buffer of type ") << type;
        failedSome = true;
        return;
      }
      int64_t staticBytes = elem;
      for (int64_t d : type.getShape())
        if (!ShapedType::isDynamic(d))
          staticBytes *= d;
      ValueRange dynSizes = op->getOperands();
      Affine raw;
      if (dynSizes.empty()) {
        raw = {0, staticBytes};
      } else if (dynSizes.size() == 1 && isBatch(dynSizes[0])) {
        raw = {staticBytes, 0};
      } else {
        op->emitError("kiln-plan-memory: the size of this buffer is not affine in the batch");
        failedSome = true;
        return;
      }
      Buffer buf{op, {int64_t(llvm::alignTo(raw.a, kAlignment)), int64_t(llvm::alignTo(raw.b, kAlignment))},
                 raw.at(1), raw, 0, 0, {}};
      Operation *top = body.findAncestorOpInBlock(*op);
      buf.start = buf.end = position[top];
      // Every op that uses the buffer or a value derived from it extends its life.
      SmallVector<Value> worklist{op->getResult(0)};
      DenseSet<Value> seen;
      while (!worklist.empty()) {
        Value v = worklist.pop_back_val();
        if (!seen.insert(v).second)
          continue;
        for (OpOperand &use : v.getUses()) {
          Operation *user = use.getOwner();
          if (isa<func::ReturnOp, func::CallOp, func::CallIndirectOp>(user)) {
            op->emitError("kiln-plan-memory: this buffer escapes through ") << user->getName();
            failedSome = true;
            return;
          }
          buf.end = std::max(buf.end, position[body.findAncestorOpInBlock(*user)]);
          if (isa<memref::DeallocOp>(user))
            continue;
          // Conservatively, every memref an op returns may alias its memref operands, and
          // a value yielded from a region aliases the parent's results.
          for (Value r : user->getResults())
            if (isa<BaseMemRefType>(r.getType()))
              worklist.push_back(r);
          if (user->hasTrait<OpTrait::IsTerminator>() && user->getParentOp() != func)
            for (Value r : user->getParentOp()->getResults())
              if (isa<BaseMemRefType>(r.getType()))
                worklist.push_back(r);
        }
      }
      buffers.push_back(buf);
    });
    if (failedSome)
      return failure();

    // Greedy best-fit by decreasing size: each buffer goes to the lowest offset that is
    // clear, for every batch, of every placed buffer it is live together with.
    SmallVector<Buffer *> order;
    for (Buffer &b : buffers)
      order.push_back(&b);
    llvm::stable_sort(order, [](Buffer *x, Buffer *y) {
      return std::make_pair(x->size.a, x->size.b) > std::make_pair(y->size.a, y->size.b);
    });
    for (Buffer *buf : order) {
      SmallVector<Buffer *> live;
      for (Buffer *other : order)
        if (other->placed && other->start <= buf->end && buf->start <= other->end)
          live.push_back(other);
      SmallVector<Affine> candidates{{0, 0}};
      Affine top;
      for (Buffer *other : live) {
        Affine end = other->offset + other->size;
        candidates.push_back(end);
        top = {std::max(top.a, end.a), std::max(top.b, end.b)};
      }
      llvm::stable_sort(candidates, [](Affine x, Affine y) {
        return std::make_pair(x.at(1), x.a) < std::make_pair(y.at(1), y.a);
      });
      auto fits = [&](Affine at) {
        return llvm::all_of(live, [&](Buffer *other) {
          return (at + buf->size).le(other->offset) || (other->offset + other->size).le(at);
        });
      };
      // The componentwise maximum of the live ends always fits; a lower candidate may too.
      buf->offset = top;
      for (Affine c : candidates)
        if (fits(c)) {
          buf->offset = c;
          break;
        }
      buf->placed = true;
    }

    // The workspace ends: the maxima among the buffers' ends (pairwise incomparable ones
    // all stay, the size function takes their maximum for its batch).
    SmallVector<Affine> ends;
    for (Buffer &b : buffers) {
      Affine end = b.offset + b.size;
      if (llvm::any_of(ends, [&](Affine e) { return end.le(e); }))
        continue;
      llvm::erase_if(ends, [&](Affine e) { return e.le(end); });
      ends.push_back(end);
    }
    Affine naive;
    for (Buffer &b : buffers)
      naive = naive + b.rawSize;

    // The workspace argument, and views into it.
    Location loc = func.getLoc();
    auto wsType = MemRefType::get({ShapedType::kDynamic}, IntegerType::get(ctx, 8));
    if (failed(func.insertArgument(func.getNumArguments(), wsType,
                                   DictionaryAttr::get(ctx, {NamedAttribute(
                                       StringAttr::get(ctx, "kiln.workspace"),
                                       UnitAttr::get(ctx))}),
                                   loc)))
      return func.emitError("kiln-plan-memory: cannot add the workspace argument");
    Value ws = func.getArguments().back();
    OpBuilder b = OpBuilder::atBlockBegin(&body);
    Value batch;
    if (std::optional<unsigned> arg = batchArgument(func))
      batch = memref::DimOp::create(b, loc, func.getArgument(*arg), 0);
    auto constant = [&](OpBuilder &b, int64_t v) -> Value {
      return arith::ConstantIndexOp::create(b, loc, v);
    };
    for (Buffer &buf : buffers) {
      Operation *op = buf.alloc;
      b.setInsertionPoint(op);
      Value offset = constant(b, buf.offset.b);
      if (buf.offset.a != 0) {
        assert(batch && "a batch-dependent offset needs a batch argument");
        Value scaled = arith::MulIOp::create(b, loc, batch, constant(b, buf.offset.a));
        offset = arith::AddIOp::create(b, loc, scaled, offset);
      }
      auto view = memref::ViewOp::create(b, op->getLoc(), op->getResult(0).getType(), ws, offset,
                                         op->getOperands());
      for (Operation *user : llvm::to_vector(op->getUsers()))
        if (isa<memref::DeallocOp>(user))
          user->erase();
      op->getResult(0).replaceAllUsesWith(view.getResult());
      op->erase();
    }

    // `<name>_workspace_size(batch: i64) -> i64`.
    OpBuilder mb(func);
    mb.setInsertionPointAfter(func);
    auto i64 = IntegerType::get(ctx, 64);
    auto sizeFunc = func::FuncOp::create(mb, loc, (func.getSymName() + "_workspace_size").str(),
                                         FunctionType::get(ctx, {i64}, {i64}));
    Block *entry = sizeFunc.addEntryBlock();
    OpBuilder sb = OpBuilder::atBlockBegin(entry);
    Value n = entry->getArgument(0);
    Value result = arith::ConstantIntOp::create(sb, loc, i64, 0);
    for (Affine e : ends) {
      Value v = arith::AddIOp::create(
          sb, loc,
          arith::MulIOp::create(sb, loc, n, arith::ConstantIntOp::create(sb, loc, i64, e.a)),
          arith::ConstantIntOp::create(sb, loc, i64, e.b));
      result = arith::MaxSIOp::create(sb, loc, result, v);
    }
    func::ReturnOp::create(sb, loc, result);

    auto pairs = [&](ArrayRef<Affine> xs) {
      SmallVector<int64_t> flat;
      for (Affine x : xs) {
        flat.push_back(x.a);
        flat.push_back(x.b);
      }
      return DenseI64ArrayAttr::get(ctx, flat);
    };
    Builder attrs(ctx);
    return attrs.getDictionaryAttr({
        attrs.getNamedAttr("ends", pairs(ends)),
        attrs.getNamedAttr("naive", pairs({naive})),
        attrs.getNamedAttr("buffers", attrs.getI64IntegerAttr(int64_t(buffers.size()))),
    });
  }
};

} // namespace
} // namespace mlir::kiln
