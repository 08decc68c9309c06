//===- Passes.td - kiln dialect passes -------------------*- tablegen -*-===//
#ifndef KILN_PASSES_TD
#define KILN_PASSES_TD

include "mlir/Pass/PassBase.td"

def KilnShapeInference : Pass<"kiln-shape-inference", "func::FuncOp"> {
  let summary = "Refine kiln result types from operand types";
  let description = [{
    Walks a function in order and replaces every kiln op's result type by the type its shape
    function infers (unranked or partially dynamic results become static except for the
    batch), then updates the function's result types to match its `return`. A shape error is
    reported at the op's location, which names the Keras layer.
  }];
  let dependentDialects = ["::mlir::kiln::KilnDialect", "::mlir::func::FuncDialect"];
}

#endif // KILN_PASSES_TD
