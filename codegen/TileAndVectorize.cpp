//===- TileAndVectorize.cpp - register tiles and vectors for matmul, conv, pool -===//
#include "codegen/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Linalg/Transforms/Hoisting.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/Vector/Transforms/LoweringPatterns.h"
#include "mlir/Dialect/Vector/Transforms/VectorRewritePatterns.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/TilingInterface.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNTILEANDVECTORIZE
#define GEN_PASS_DEF_KILNHOISTVECTORTRANSFERS
#define GEN_PASS_DEF_KILNEXPANDMATH
#include "codegen/Passes.h.inc"

namespace {

/// The largest divisor of `n` that is at most `limit` (1 when n is dynamic).
int64_t largestDivisorAtMost(int64_t n, int64_t limit) {
  if (ShapedType::isDynamic(n))
    return 1;
  for (int64_t d = std::min(n, limit); d > 1; --d)
    if (n % d == 0)
      return d;
  return 1;
}

/// Tiles `op` by `tileSizes`, replaces it, and returns the tiled op.
FailureOr<linalg::LinalgOp> tile(RewriterBase &rewriter, linalg::LinalgOp op,
                                 ArrayRef<int64_t> tileSizes) {
  scf::SCFTilingOptions options;
  SmallVector<OpFoldResult> sizes;
  for (int64_t s : tileSizes)
    sizes.push_back(rewriter.getIndexAttr(s));
  options.setTileSizes(sizes);
  rewriter.setInsertionPoint(op);
  FailureOr<scf::SCFTilingResult> tiled =
      scf::tileUsingSCF(rewriter, cast<TilingInterface>(op.getOperation()), options);
  if (failed(tiled))
    return failure();
  rewriter.replaceOp(op, tiled->replacements);
  return cast<linalg::LinalgOp>(tiled->tiledOps.back());
}

LogicalResult vectorizeOp(RewriterBase &rewriter, Operation *op, ArrayRef<int64_t> sizes,
                          bool namedContraction) {
  rewriter.setInsertionPoint(op);
  // One flag per vector size: an empty list is read past its end and yields scalable dims.
  SmallVector<bool> scalable(sizes.size(), false);
  FailureOr<linalg::VectorizationResult> result =
      linalg::vectorize(rewriter, op, sizes, scalable,
                        /*vectorizeNDExtract=*/false, /*flatten1DDepthwiseConv=*/false,
                        /*assumeDynamicDimsMatchVecSizes=*/false, namedContraction);
  if (failed(result))
    return failure();
  rewriter.replaceOp(op, result->replacements);
  return success();
}

struct TileAndVectorizePass : impl::KilnTileAndVectorizeBase<TileAndVectorizePass> {
  using Base::Base;

  /// Tiles a matmul into (tm x tn x tk) register tiles and vectorizes them without masks:
  /// the N and K tiles divide their static sizes and M (usually the dynamic batch) is tiled
  /// by a divisor of its static size, or by one row when it is dynamic.
  void tileAndVectorizeMatmul(IRRewriter &rewriter, linalg::MatmulOp op) {
    SmallVector<int64_t> b = op.getStaticLoopRanges(); // m, n, k
    if (ShapedType::isDynamic(b[1]) || ShapedType::isDynamic(b[2]))
      return;
    int64_t tm = largestDivisorAtMost(b[0], matmulTileM);
    int64_t tn = largestDivisorAtMost(b[1], matmulTileN);
    int64_t tk = largestDivisorAtMost(b[2], matmulTileK);
    SmallVector<int64_t> tileSizes = {tm == b[0] ? 0 : tm, tn == b[1] ? 0 : tn,
                                      tk == b[2] ? 0 : tk};
    FailureOr<linalg::LinalgOp> tiled = tile(rewriter, op, tileSizes);
    if (failed(tiled)) {
      op.emitWarning("kiln: matmul tiling failed; left as loops");
      return;
    }
    if (failed(vectorizeOp(rewriter, *tiled, {tm, tn, tk}, /*namedContraction=*/true)))
      tiled->getOperation()->emitWarning("kiln: matmul vectorization failed; left as loops");
  }

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    IRRewriter rewriter(&getContext());

    SmallVector<linalg::MatmulOp> matmuls;
    SmallVector<linalg::LinalgOp> windowed;
    func.walk([&](linalg::MatmulOp op) { matmuls.push_back(op); });
    func.walk([&](Operation *op) {
      if (isa<linalg::Conv2DNhwcHwcfOp, linalg::PoolingNhwcMaxOp, linalg::PoolingNhwcSumOp>(op))
        windowed.push_back(cast<linalg::LinalgOp>(op));
    });

    for (linalg::MatmulOp op : matmuls)
      if (contractions && op.hasPureTensorSemantics())
        tileAndVectorizeMatmul(rewriter, op);

    // Windowed ops: one batch element, one output row and one kernel row per tile, so that
    // the 2-D op decomposes into its 1-D form, which vectorizes with static shapes.
    for (linalg::LinalgOp op : windowed) {
      if (!op.hasPureTensorSemantics() || (!contractions && isa<linalg::Conv2DNhwcHwcfOp>(op)))
        continue;
      SmallVector<int64_t> b = op.getStaticLoopRanges();
      SmallVector<int64_t> tileSizes;
      if (isa<linalg::Conv2DNhwcHwcfOp>(op)) {
        // (n, oh, ow, f, kh, kw, c)
        // A row of up to 14 output pixels times 16 filters keeps ~14 accumulators in
        // registers and reuses each loaded weight vector across the row.
        int64_t ow = largestDivisorAtMost(b[2], 14);
        int64_t f = largestDivisorAtMost(b[3], ow > 4 ? 16 : 64);
        int64_t c = largestDivisorAtMost(b[6], 32);
        tileSizes = {1, 1, ow, f == b[3] ? 0 : f, 1, 0, c == b[6] ? 0 : c};
      } else {
        // (n, oh, ow, c, kh, kw)
        int64_t ow = largestDivisorAtMost(b[2], 8);
        int64_t c = largestDivisorAtMost(b[3], 64);
        tileSizes = {1, 1, ow, c == b[3] ? 0 : c, 1, 0};
      }
      if (failed(tile(rewriter, op, tileSizes)))
        op.emitWarning("kiln: convolution tiling failed; left as loops");
    }
    {
      RewritePatternSet patterns(&getContext());
      linalg::populateDecomposeConvolutionPatterns(patterns);
      if (failed(applyPatternsGreedily(func, std::move(patterns))))
        return signalPassFailure();
    }
    SmallVector<Operation *> oneD;
    func.walk([&](Operation *op) {
      if (isa<linalg::Conv1DNwcWcfOp, linalg::PoolingNwcMaxOp, linalg::PoolingNwcSumOp>(op))
        oneD.push_back(op);
    });
    for (Operation *op : oneD)
      if (failed(vectorizeOp(rewriter, op, {}, /*namedContraction=*/false)))
        op->emitWarning("kiln: 1-D convolution vectorization failed; left as loops");

    RewritePatternSet cleanup(&getContext());
    vector::populateVectorReductionToContractPatterns(cleanup);
    // Masks move into the transfers themselves before canonicalization touches them.
    vector::populateVectorMaskLoweringPatternsForSideEffectingOps(cleanup);
    vector::populateVectorTransferPermutationMapLoweringPatterns(cleanup);
    vector::TransferReadOp::getCanonicalizationPatterns(cleanup, &getContext());
    vector::TransferWriteOp::getCanonicalizationPatterns(cleanup, &getContext());
    if (failed(applyPatternsGreedily(func, std::move(cleanup))))
      return signalPassFailure();
  }
};

struct HoistVectorTransfersPass
    : impl::KilnHoistVectorTransfersBase<HoistVectorTransfersPass> {
  void runOnOperation() override {
    // Unit dims (one batch row, one output row) leave 2-D transfers that later lowerings
    // cannot turn into plain loads and stores: drop them first.
    RewritePatternSet patterns(&getContext());
    vector::populateCastAwayVectorLeadingOneDimPatterns(patterns);
    vector::populateVectorTransferDropUnitDimsPatterns(patterns);
    vector::populateVectorTransferPermutationMapLoweringPatterns(patterns);
    vector::TransferReadOp::getCanonicalizationPatterns(patterns, &getContext());
    vector::TransferWriteOp::getCanonicalizationPatterns(patterns, &getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
    linalg::hoistRedundantVectorTransfers(getOperation(), /*verifyNonZeroTrip=*/true);
  }
};

struct ExpandMathPass : impl::KilnExpandMathBase<ExpandMathPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateMathPolynomialApproximationPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
} // namespace mlir::kiln
