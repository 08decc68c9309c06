//===- LowerToLinalg.cpp - kiln ops to linalg/tensor/arith/math ------------===//
#include "codegen/Passes.h"
#include "ir/KilnOps.h"

#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNLOWERTOLINALG
#include "codegen/Passes.h.inc"

void populateKilnToLinalgPatterns(RewritePatternSet &patterns) {}

namespace {
struct LowerToLinalgPass : impl::KilnLowerToLinalgBase<LowerToLinalgPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateKilnToLinalgPatterns(patterns);
    ConversionTarget target(getContext());
    target.addIllegalDialect<KilnDialect>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    if (failed(applyPartialConversion(getOperation(), target, std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
} // namespace mlir::kiln
