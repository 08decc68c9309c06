//===- Passes.td - kiln codegen passes -------------------*- tablegen -*-===//
#ifndef KILN_CODEGEN_PASSES_TD
#define KILN_CODEGEN_PASSES_TD

include "mlir/Pass/PassBase.td"

def KilnLowerToLinalg : Pass<"kiln-lower-to-linalg", "func::FuncOp"> {
  let summary = "Lower kiln ops to linalg, tensor, arith and math on tensors";
  let description = [{
    Each kiln op becomes linalg named ops (matmul, conv_2d_nhwc_hwcf, pooling) or
    `linalg.generic`s on tensors; the dynamic batch is carried with `tensor.dim`.
    Runs after `kiln-shape-inference`: every operand must be ranked.
  }];
  let dependentDialects = [
    "::mlir::linalg::LinalgDialect", "::mlir::tensor::TensorDialect",
    "::mlir::arith::ArithDialect", "::mlir::math::MathDialect"
  ];
}

#endif // KILN_CODEGEN_PASSES_TD
