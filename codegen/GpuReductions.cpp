//===- GpuReductions.cpp - reductions shaped for GPU kernels ---------------------------===//
//
// On the GPU each linalg op is one kernel with one thread per output element (see
// kiln-gpu-map-loops). kiln-gpu-split-reductions gives narrow reductions (a bias gradient, a
// convolution's filter gradient: few outputs, many terms) more threads by making some of their
// reduction loops parallel, writing partials that a linalg.reduce folds;
// kiln-gpu-reduction-loops lowers reductions to loops that keep the accumulator in a register.
//
//===----------------------------------------------------------------------------------===//
#include "codegen/GpuPipeline.h"

#include "mlir/Analysis/SliceAnalysis.h"
#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Pass/Pass.h"

namespace mlir::kiln {

#define GEN_PASS_DECL_KILNGPUSPLITREDUCTIONS
#define GEN_PASS_DEF_KILNGPUSPLITREDUCTIONS
#define GEN_PASS_DECL_KILNGPUREDUCTIONLOOPS
#define GEN_PASS_DEF_KILNGPUREDUCTIONLOOPS
#include "codegen/GpuPasses.h.inc"

namespace {

/// The size the heuristics assume for a dynamic dimension (the batch, usually).
constexpr int64_t kAssumedDynamicSize = 32;

int64_t estimate(int64_t size) {
  return ShapedType::isDynamic(size) ? kAssumedDynamicSize : size;
}

/// Whether loop `dim` is read directly (as a plain `d<dim>` result) by some input, so that the
/// loop's range still follows from the operand shapes after it stops being a reduction.
bool readDirectly(linalg::LinalgOp op, unsigned dim) {
  for (OpOperand *in : op.getDpsInputOperands())
    for (AffineExpr e : op.getMatchingIndexingMap(in).getResults())
      if (auto d = dyn_cast<AffineDimExpr>(e); d && d.getPosition() == dim)
        return true;
  return false;
}

/// The reduction loop of `op` to make parallel, if `op` is narrow enough to gain from it.
std::optional<unsigned> pickDimension(linalg::LinalgOp op, int64_t minParallel,
                                      int64_t minTerms) {
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  int64_t parallel = 1, terms = 1;
  for (auto [size, it] : llvm::zip(ranges, iterators))
    (it == utils::IteratorType::parallel ? parallel : terms) *= estimate(size);
  if (parallel >= minParallel)
    return std::nullopt;
  // The outermost qualifying reduction loop: in kiln's gradients that is the batch.
  for (unsigned d = 0; d < ranges.size(); ++d) {
    if (iterators[d] != utils::IteratorType::reduction)
      continue;
    int64_t size = estimate(ranges[d]);
    if (size >= 2 && terms / size >= minTerms && readDirectly(op, d))
      return d;
  }
  return std::nullopt;
}

/// Splits reduction loop `dim` of `op` into partials; returns the op that computes them. With
/// `ratio` 0 the whole loop becomes parallel; otherwise the loop (static size S) becomes an outer
/// parallel loop of `ratio` (a new last loop) over an inner reduction of S / ratio, the inputs
/// that read it expanded to (ratio, S / ratio) there.
FailureOr<linalg::GenericOp> splitOut(RewriterBase &b, linalg::LinalgOp op, unsigned dim,
                                      int64_t ratio) {
  SmallVector<Operation *, 4> combiners;
  if (op.getNumDpsInits() != 1 || !matchReduction(op.getRegionOutputArgs(), 0, combiners) ||
      combiners.size() != 1)
    return failure();
  Operation *combiner = combiners.front();
  std::optional<TypedAttr> neutral = arith::getNeutralElement(combiner);
  if (!neutral)
    return failure();
  unsigned numLoops = op.getNumLoops();
  unsigned outer = ratio ? numLoops : dim;
  if (ratio) {
    // Every read of the loop must be a plain result, and the payload must not ask its index.
    for (AffineMap map : op.getIndexingMapsArray())
      for (AffineExpr e : map.getResults())
        if (e.isFunctionOfDim(dim) && !isa<AffineDimExpr>(e))
          return failure();
    bool asksIndex = false;
    op.getBlock()->walk([&](linalg::IndexOp index) { asksIndex |= index.getDim() == dim; });
    if (asksIndex)
      return failure();
  }

  Location loc = op.getLoc();
  b.setInsertionPoint(op);
  MLIRContext *ctx = b.getContext();
  AffineExpr outerExpr = b.getAffineDimExpr(outer);
  SmallVector<Value> inputs;
  SmallVector<AffineMap> maps;
  for (OpOperand *in : op.getDpsInputOperands()) {
    AffineMap map = op.getMatchingIndexingMap(in);
    Value value = in->get();
    if (!ratio || !llvm::is_contained(map.getResults(), b.getAffineDimExpr(dim))) {
      inputs.push_back(value);
      maps.push_back(AffineMap::get(numLoops + (ratio ? 1 : 0), 0, map.getResults(), ctx));
      continue;
    }
    SmallVector<AffineExpr> results;
    SmallVector<ReassociationIndices> groups;
    SmallVector<OpFoldResult> shape;
    auto type = cast<RankedTensorType>(value.getType());
    for (auto [pos, e] : llvm::enumerate(map.getResults())) {
      bool split = e == b.getAffineDimExpr(dim);
      groups.push_back({static_cast<int64_t>(results.size())});
      if (split) {
        groups.back().push_back(results.size() + 1);
        results.push_back(outerExpr);
        shape.push_back(b.getIndexAttr(ratio));
        shape.push_back(b.getIndexAttr(type.getDimSize(pos) / ratio));
      } else {
        shape.push_back(tensor::getMixedSize(b, loc, value, pos));
      }
      results.push_back(e);
    }
    SmallVector<int64_t> staticShape;
    SmallVector<Value> dynamic;
    dispatchIndexOpFoldResults(shape, dynamic, staticShape);
    auto expandedType = RankedTensorType::get(staticShape, type.getElementType());
    inputs.push_back(tensor::ExpandShapeOp::create(b, loc, expandedType, value, groups, shape));
    maps.push_back(AffineMap::get(numLoops + (ratio ? 1 : 0), 0, results, ctx));
  }

  SmallVector<Range> loops = op.createLoopRanges(b, loc);
  Value init = op.getDpsInits().front();
  auto initType = cast<RankedTensorType>(init.getType());
  SmallVector<OpFoldResult> sizes{ratio ? b.getIndexAttr(ratio) : loops[dim].size};
  for (int64_t i = 0; i < initType.getRank(); ++i)
    sizes.push_back(tensor::getMixedSize(b, loc, init, i));
  Value empty = tensor::EmptyOp::create(b, loc, sizes, initType.getElementType());
  Value identity = arith::ConstantOp::create(b, loc, *neutral);
  Value partialInit = linalg::FillOp::create(b, loc, identity, empty).getResult(0);

  AffineMap out = op.getIndexingMapsArray().back();
  SmallVector<AffineExpr> results{outerExpr};
  llvm::append_range(results, out.getResults());
  maps.push_back(AffineMap::get(numLoops + (ratio ? 1 : 0), 0, results, ctx));
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  if (ratio)
    iterators.push_back(utils::IteratorType::parallel);
  else
    iterators[dim] = utils::IteratorType::parallel;

  auto partial = linalg::GenericOp::create(b, loc, TypeRange{partialInit.getType()}, inputs,
                                           ValueRange{partialInit}, maps, iterators);
  IRMapping mapping;
  op->getRegion(0).cloneInto(&partial.getRegion(), mapping);

  auto reduce = linalg::ReduceOp::create(
      b, loc, ValueRange{partial.getResult(0)}, ValueRange{init}, ArrayRef<int64_t>{0},
      [&](OpBuilder &nb, Location nloc, ValueRange args) {
        Operation *clone = nb.clone(*combiner);
        clone->setOperand(0, args[0]);
        clone->setOperand(1, args[1]);
        linalg::YieldOp::create(nb, nloc, clone->getResult(0));
      });
  b.replaceOp(op, reduce.getResult(0));
  return partial;
}

/// The ratio to split the single static reduction loop of `op` by: the smallest divisor of its
/// size that makes the op wide enough while leaving `minTerms` per thread, else the largest
/// that leaves `minTerms`; 0 if the op should not be split this way. Sets `dim` to the loop.
int64_t pickRatio(linalg::LinalgOp op, int64_t minParallel, int64_t minTerms, unsigned &dim) {
  if (op.getNumReductionLoops() != 1)
    return 0;
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  int64_t parallel = 1, size = 0;
  for (auto [d, range, it] : llvm::enumerate(ranges, iterators)) {
    if (it == utils::IteratorType::parallel) {
      parallel *= estimate(range);
    } else {
      size = range;
      dim = d;
    }
  }
  if (parallel >= minParallel || ShapedType::isDynamic(size))
    return 0;
  int64_t best = 0;
  for (int64_t r = 2; size / r >= minTerms; ++r) {
    if (size % r)
      continue;
    best = r;
    if (parallel * r >= minParallel)
      break;
  }
  return best;
}

struct KilnGpuSplitReductions
    : impl::KilnGpuSplitReductionsBase<KilnGpuSplitReductions> {
  using Base::Base;
  void runOnOperation() override {
    SmallVector<linalg::LinalgOp> candidates;
    getOperation().walk([&](linalg::LinalgOp op) {
      if (op.hasPureTensorSemantics() && op.getNumReductionLoops() > 0)
        candidates.push_back(op);
    });
    IRRewriter b(&getContext());
    for (linalg::LinalgOp op : candidates) {
      while (std::optional<unsigned> dim = pickDimension(op, minParallel, minTerms)) {
        FailureOr<linalg::GenericOp> partial = splitOut(b, op, *dim, /*ratio=*/0);
        if (failed(partial))
          break;
        op = cast<linalg::LinalgOp>(partial->getOperation());
      }
      unsigned dim = 0;
      if (int64_t ratio = pickRatio(op, minParallel, minTerms, dim))
        (void)splitOut(b, op, dim, ratio);
    }
  }
};

/// Lowers `op` (on buffers, with reduction loops and one output indexed by parallel loops
/// only) to loops that carry the accumulator; returns failure, leaving `op`, if it does not fit.
LogicalResult lowerToAccumulatingLoops(RewriterBase &b, linalg::LinalgOp op) {
  if (!op.hasPureBufferSemantics() || op.getNumDpsInits() != 1 || op.getNumReductionLoops() == 0)
    return failure();
  OpOperand *out = op.getDpsInitOperand(0);
  AffineMap outMap = op.getMatchingIndexingMap(out);
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  for (AffineExpr e : outMap.getResults()) {
    auto d = dyn_cast<AffineDimExpr>(e);
    if (!d || iterators[d.getPosition()] != utils::IteratorType::parallel)
      return failure();
  }
  Block *body = op.getBlock();
  if (body->getTerminator()->getNumOperands() != 1)
    return failure();

  Location loc = op.getLoc();
  b.setInsertionPoint(op);
  SmallVector<Range> ranges = op.createLoopRanges(b, loc);
  SmallVector<unsigned> parallelDims, reductionDims;
  for (unsigned d = 0; d < iterators.size(); ++d)
    (iterators[d] == utils::IteratorType::parallel ? parallelDims : reductionDims).push_back(d);
  SmallVector<Value> ivs(iterators.size());
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  auto upper = [&](unsigned d) { return getValueOrCreateConstantIndexOp(b, loc, ranges[d].size); };

  auto indices = [&](OpBuilder &nb, AffineMap map) {
    SmallVector<Value> idx;
    for (AffineExpr e : map.getResults()) {
      if (auto d = dyn_cast<AffineDimExpr>(e))
        idx.push_back(ivs[d.getPosition()]);
      else
        idx.push_back(affine::AffineApplyOp::create(
            nb, loc, AffineMap::get(map.getNumDims(), map.getNumSymbols(), e), ivs));
    }
    return idx;
  };
  // The payload at the current loop indices, with `acc` for the output's block argument.
  auto payload = [&](OpBuilder &nb, Value acc) -> Value {
    IRMapping mapping;
    for (OpOperand *in : op.getDpsInputOperands()) {
      Value v = in->get();
      if (isa<MemRefType>(v.getType()))
        v = memref::LoadOp::create(nb, loc, v, indices(nb, op.getMatchingIndexingMap(in)));
      mapping.map(op.getMatchingBlockArgument(in), v);
    }
    mapping.map(op.getMatchingBlockArgument(out), acc);
    for (Operation &inner : body->without_terminator()) {
      if (auto index = dyn_cast<linalg::IndexOp>(inner))
        mapping.map(index.getResult(), ivs[index.getDim()]);
      else
        nb.clone(inner, mapping);
    }
    return mapping.lookupOrDefault(body->getTerminator()->getOperand(0));
  };
  std::function<Value(OpBuilder &, unsigned, Value)> nest = [&](OpBuilder &nb, unsigned level,
                                                                 Value acc) -> Value {
    if (level == reductionDims.size())
      return payload(nb, acc);
    unsigned d = reductionDims[level];
    auto loop = scf::ForOp::create(
        nb, loc, zero, upper(d), one, ValueRange{acc},
        [&](OpBuilder &fb, Location, Value iv, ValueRange args) {
          ivs[d] = iv;
          scf::YieldOp::create(fb, loc, nest(fb, level + 1, args.front()));
        });
    return loop.getResult(0);
  };
  auto element = [&](OpBuilder &nb, ValueRange parallelIvs) {
    for (auto [d, iv] : llvm::zip(parallelDims, parallelIvs))
      ivs[d] = iv;
    SmallVector<Value> outIdx = indices(nb, outMap);
    Value init = memref::LoadOp::create(nb, loc, out->get(), outIdx);
    memref::StoreOp::create(nb, loc, nest(nb, 0, init), out->get(), outIdx);
  };
  if (parallelDims.empty()) {
    element(b, {});
  } else {
    SmallVector<Value> lbs(parallelDims.size(), zero), steps(parallelDims.size(), one), ubs;
    for (unsigned d : parallelDims)
      ubs.push_back(upper(d));
    scf::ParallelOp::create(b, loc, lbs, ubs, steps,
                            [&](OpBuilder &nb, Location, ValueRange parallelIvs) {
                              element(nb, parallelIvs);
                            });
  }
  b.eraseOp(op);
  return success();
}

struct KilnGpuReductionLoops : impl::KilnGpuReductionLoopsBase<KilnGpuReductionLoops> {
  void runOnOperation() override {
    SmallVector<linalg::LinalgOp> ops;
    getOperation().walk([&](linalg::LinalgOp op) { ops.push_back(op); });
    IRRewriter b(&getContext());
    for (linalg::LinalgOp op : ops)
      (void)lowerToAccumulatingLoops(b, op);
  }
};

} // namespace
} // namespace mlir::kiln
