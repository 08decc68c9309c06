//===- ShapeInference.cpp - refine kiln result types -----------------------===//
#include "passes/Passes.h"
#include "ir/ShapeFunctions.h"

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"

namespace mlir::kiln {
#define GEN_PASS_DEF_KILNSHAPEINFERENCE
#include "passes/Passes.h.inc"

namespace {
struct ShapeInferencePass : impl::KilnShapeInferenceBase<ShapeInferencePass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    WalkResult result = func.walk([&](Operation *op) -> WalkResult {
      auto infer = dyn_cast<InferTypeOpInterface>(op);
      if (!infer || !isa<KilnDialect>(op->getDialect()))
        return WalkResult::advance();
      SmallVector<Type> inferred;
      if (failed(infer.inferReturnTypes(op->getContext(), op->getLoc(), op->getOperands(),
                                        op->getRawDictionaryAttrs(),
                                        op->getPropertiesStorage(), op->getRegions(),
                                        inferred)))
        return WalkResult::interrupt();
      for (auto [res, type] : llvm::zip(op->getResults(), inferred)) {
        if (res.getType() == type)
          continue;
        if (!areCompatibleTensorTypes(type, res.getType())) {
          std::string message;
          llvm::raw_string_ostream os(message);
          os << "declared result type '" << res.getType()
             << "' is incompatible with the inferred type '" << type << "'";
          (void)emitKilnOpError(op->getLoc(), op->getName().stripDialect(), message);
          return WalkResult::interrupt();
        }
        if (areMoreRefined(type, res.getType()))
          res.setType(type);
      }
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      return signalPassFailure();
    // The function's result types follow its return operands.
    if (func.isExternal())
      return;
    Operation *ret = func.getBody().back().getTerminator();
    auto type = FunctionType::get(&getContext(), func.getArgumentTypes(),
                                  ret->getOperandTypes());
    func.setFunctionType(type);
  }

  /// `a` may replace `b` when it is at least as static and agrees where both are known.
  static bool areMoreRefined(Type a, Type b) {
    auto ta = dyn_cast<TensorType>(a), tb = dyn_cast<TensorType>(b);
    if (!ta || !tb || ta.getElementType() != tb.getElementType())
      return false;
    if (!tb.hasRank())
      return true;
    if (!ta.hasRank() || ta.getRank() != tb.getRank())
      return false;
    for (auto [x, y] : llvm::zip(ta.getShape(), tb.getShape()))
      if (!ShapedType::isDynamic(y) && x != y)
        return false;
    return true;
  }
};
} // namespace
} // namespace mlir::kiln
