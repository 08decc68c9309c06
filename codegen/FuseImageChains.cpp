//===- FuseImageChains.cpp - one loop over images for conv -> elementwise -> pool chains -===//
#include "codegen/Passes.h"

#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/Tensor/Transforms/Transforms.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/TilingInterface.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNFUSEIMAGECHAINS
#include "codegen/Passes.h.inc"

namespace {

/// An elementwise op over NHWC tensors that reads `v` element for element.
bool isElementwiseUserOf(linalg::GenericOp op, Value v) {
  if (!op.hasPureTensorSemantics() || op.getNumDpsInits() != 1 ||
      op.getNumParallelLoops() != op.getNumLoops() || op.getNumLoops() != 4)
    return false;
  for (OpOperand *in : op.getDpsInputOperands())
    if (in->get() == v)
      return op.getMatchingIndexingMap(in).isIdentity();
  return false;
}

/// The last op of the chain that starts at `conv`: elementwise users, then maybe one pooling.
Operation *chainEnd(linalg::Conv2DNhwcHwcfOp conv) {
  Operation *end = conv;
  while (end->getNumResults() == 1 && end->getResult(0).hasOneUse()) {
    Operation *user = *end->getResult(0).getUsers().begin();
    if (auto generic = dyn_cast<linalg::GenericOp>(user);
        generic && isElementwiseUserOf(generic, end->getResult(0))) {
      end = user;
      continue;
    }
    if (isa<linalg::PoolingNhwcMaxOp, linalg::PoolingNhwcSumOp>(user) &&
        cast<linalg::LinalgOp>(user).hasPureTensorSemantics() &&
        user->getOperand(0) == end->getResult(0))
      end = user;
    break;
  }
  return end;
}

struct FuseImageChainsPass : impl::KilnFuseImageChainsBase<FuseImageChainsPass> {
  void runOnOperation() override {
    SmallVector<linalg::Conv2DNhwcHwcfOp> convs;
    getOperation().walk([&](linalg::Conv2DNhwcHwcfOp op) {
      if (op.hasPureTensorSemantics())
        convs.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (linalg::Conv2DNhwcHwcfOp conv : convs) {
      Operation *end = chainEnd(conv);
      if (end == conv.getOperation())
        continue;
      auto consumer = cast<TilingInterface>(end);
      SmallVector<OpFoldResult> sizes(consumer.getLoopIteratorTypes().size(),
                                      rewriter.getIndexAttr(0));
      sizes[0] = rewriter.getIndexAttr(1);
      scf::SCFTileAndFuseOptions options;
      options.tilingOptions.setTileSizes(sizes);
      // A producer that reads its operand through a non-permutation map (the flipped kernel of
      // conv2d_grad_input, Keras' Conv2DTranspose) gets wrong slices when tiled; it does not
      // depend on the image anyway, so it stays outside the loop.
      // A producer that the loop needs whole (a batch statistic of BatchNormalization in
      // training: a reduction over every image) would be recomputed whole for each image, which
      // made such steps quadratic in the batch; it stays outside the loop too.
      options.setFusionControlFn([](tensor::ExtractSliceOp slice, OpResult producer,
                                    bool) -> std::optional<scf::SCFTileAndFuseOptions::ControlFnResult> {
        if (slice.getSourceType().hasStaticShape() &&
            slice.getSourceType().getShape() == slice.getResultType().getShape())
          return std::nullopt;
        if (auto linalgOp = dyn_cast<linalg::GenericOp>(producer.getOwner()))
          if (!llvm::all_of(linalgOp.getIndexingMapsArray(),
                            [](AffineMap m) { return m.isProjectedPermutation(); }))
            return std::nullopt;
        return scf::SCFTileAndFuseOptions::ControlFnResult{};
      });
      rewriter.setInsertionPoint(end);
      FailureOr<scf::SCFTileAndFuseResult> fused =
          scf::tileConsumerAndFuseProducersUsingSCF(rewriter, consumer, options);
      if (failed(fused)) {
        end->emitWarning("kiln: fusing the convolution chain per image failed; left unfused");
        continue;
      }
      for (OpResult result : end->getResults())
        if (Value repl = fused->replacements.lookup(result))
          rewriter.replaceAllUsesWith(result, repl);
      // The unfused producers are dead now; the canonicalizer after this pass removes them.
      if (end->use_empty())
        rewriter.eraseOp(end);
    }
    // A fused op's init is a one-image slice of the whole batch's tensor.empty: make it a
    // one-image tensor.empty, so the intermediates bufferize to one-image scratch buffers
    // (hoisted out of the loop after bufferization) instead of batch-sized ones.
    RewritePatternSet patterns(&getContext());
    tensor::populateFoldTensorEmptyPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
} // namespace mlir::kiln
