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

def KilnAutodiff : Pass<"kiln-autodiff", "func::FuncOp"> {
  let summary = "Expand kiln.grad into reverse-mode derivatives";
  let description = [{
    For every `kiln.grad %loss wrt %v...`, walks the ops of its block that `%loss` depends on in
    reverse, applies one gradient rule per op (the backward ops are kiln ops too: matmul and
    transpose for Dense, `kiln.conv2d_grad_input` / `kiln.conv2d_grad_kernel`,
    `kiln.pool2d_grad`, `kiln.unary_grad` for activations, reductions that undo broadcasting...)
    and replaces the `kiln.grad` results with the accumulated adjoints of `%v...`. Only values
    that depend on some `%v` get adjoints, so no work is spent on the input's gradient. An op
    without a rule on the path from `%v` to `%loss` is an error naming the op and its layer.
  }];
  let dependentDialects = ["::mlir::kiln::KilnDialect", "::mlir::func::FuncDialect"];
}

#endif // KILN_PASSES_TD
