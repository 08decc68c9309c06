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
    "::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
    "::mlir::affine::AffineDialect"
  ];
}

def KilnTileAndVectorize : Pass<"kiln-tile-and-vectorize", "func::FuncOp"> {
  let summary = "Tile matmul and conv2d into static register tiles and vectorize them";
  let description = [{
    On tensors: `linalg.matmul` is tiled (M, N, K) into static tiles and vectorized; `linalg.conv_2d_nhwc_hwcf` and the NHWC pooling ops are tiled to one output
    row and one kernel row, decomposed into their 1-D forms and vectorized. The result has
    `vector.contract`/`vector.transfer_*` ops in `scf.for` loops instead of scalar loop nests.
  }];
  let options = [
    Option<"matmulTileM", "matmul-tile-m", "int64_t", "8",
           "rows of a matmul register tile (a divisor of M; one row when M is dynamic)">,
    Option<"matmulTileN", "matmul-tile-n", "int64_t", "128", "columns of a matmul register tile">,
    Option<"matmulTileK", "matmul-tile-k", "int64_t", "16", "reduction depth of a matmul tile">
  ];
  let dependentDialects = [
    "::mlir::linalg::LinalgDialect", "::mlir::tensor::TensorDialect",
    "::mlir::vector::VectorDialect", "::mlir::scf::SCFDialect",
    "::mlir::affine::AffineDialect", "::mlir::arith::ArithDialect"
  ];
}

def KilnHoistVectorTransfers : Pass<"kiln-hoist-vector-transfers", "func::FuncOp"> {
  let summary = "Hoist loop-invariant vector transfers (matmul accumulators) out of loops";
  let description = [{
    After bufferization the accumulator tile of a vectorized matmul or convolution is read
    and written on every reduction step; this pass keeps it in registers across the loop.
    It first drops the unit dimensions of vector transfers (a one-row tile), which the
    transfer lowerings need.
  }];
}

def KilnExpandMath : Pass<"kiln-expand-math", "func::FuncOp"> {
  let summary = "Replace math functions by polynomial approximations and expansions";
  let description = [{
    `math.tanh`, `math.erf`, `math.exp`, `math.log1p`, ... become arith code that
    vectorizes, so generated code calls no libm function that the JIT might not resolve.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
    "::mlir::vector::VectorDialect"
  ];
}

#endif // KILN_CODEGEN_PASSES_TD
