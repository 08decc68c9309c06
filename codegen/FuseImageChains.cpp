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

/// The chain that starts at `conv`: the conv, its elementwise users, then maybe one pooling;
/// the last op is the chain's end.
SmallVector<Operation *> chainOf(linalg::Conv2DNhwcHwcfOp conv) {
  SmallVector<Operation *> chain = {conv};
  Operation *end = conv;
  while (end->getNumResults() == 1 && end->getResult(0).hasOneUse()) {
    Operation *user = *end->getResult(0).getUsers().begin();
    if (auto generic = dyn_cast<linalg::GenericOp>(user);
        generic && isElementwiseUserOf(generic, end->getResult(0))) {
      end = user;
      chain.push_back(end);
      continue;
    }
    if (isa<linalg::PoolingNhwcMaxOp, linalg::PoolingNhwcSumOp>(user) &&
        cast<linalg::LinalgOp>(user).hasPureTensorSemantics() &&
        user->getOperand(0) == end->getResult(0))
      chain.push_back(user);
    break;
  }
  return chain;
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
      SmallVector<Operation *> chain = chainOf(conv);
      Operation *end = chain.back();
      if (end == conv.getOperation())
        continue;
      llvm::SmallPtrSet<Operation *, 8> inChain(chain.begin(), chain.end());
      auto consumer = cast<TilingInterface>(end);
      SmallVector<OpFoldResult> sizes(consumer.getLoopIteratorTypes().size(),
                                      rewriter.getIndexAttr(0));
      sizes[0] = rewriter.getIndexAttr(1);
      scf::SCFTileAndFuseOptions options;
      options.tilingOptions.setTileSizes(sizes);
      // A producer that reads its operand through a non-permutation map (the flipped kernel of
      // conv2d_grad_input, Keras' Conv2DTranspose) gets wrong slices when tiled; it does not
      // depend on the image anyway, so it stays outside the loop.
      // Only the chain, the fills that initialize it and the padding of its conv's input go
      // into the loop: fusing every producer pulled the whole network before the chain into
      // each chain's loop, a copy per chain (a ResNet50 grew past 13 GB while compiling), and
      // recomputed whole producers for every image (BatchNormalization's batch statistics in
      // training: a train step quadratic in the batch).
      options.setFusionControlFn([&](tensor::ExtractSliceOp, OpResult producer, bool)
                                     -> std::optional<scf::SCFTileAndFuseOptions::ControlFnResult> {
        Operation *owner = producer.getOwner();
        bool padOfConv = isa<tensor::PadOp>(owner) &&
                         llvm::any_of(owner->getUsers(),
                                      [&](Operation *u) { return u == conv.getOperation(); });
        if (!inChain.contains(owner) && !isa<linalg::FillOp>(owner) && !padOfConv)
          return std::nullopt;
        if (auto linalgOp = dyn_cast<linalg::GenericOp>(owner))
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
