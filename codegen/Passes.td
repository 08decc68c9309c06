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
    Option<"matmulTileK", "matmul-tile-k", "int64_t", "16", "reduction depth of a matmul tile">,
    Option<"contractions", "contractions", "bool", "true",
           "also tile and vectorize matmul and conv2d (off when kiln-lower-to-microkernels "
           "handles them after bufferization)">
  ];
  let dependentDialects = [
    "::mlir::linalg::LinalgDialect", "::mlir::tensor::TensorDialect",
    "::mlir::vector::VectorDialect", "::mlir::scf::SCFDialect",
    "::mlir::affine::AffineDialect", "::mlir::arith::ArithDialect"
  ];
}

def KilnFuseImageChains : Pass<"kiln-fuse-image-chains", "func::FuncOp"> {
  let summary = "Fuse conv2d -> elementwise -> pooling chains into one loop over images";
  let description = [{
    On tensors: for each `linalg.conv_2d_nhwc_hwcf` whose result feeds (through single-use
    edges) elementwise `linalg.generic`s (bias, activation) and optionally one NHWC pooling
    op, the last op of the chain is tiled to one image (batch tile 1, the batch may be
    dynamic) and its producers (the elementwise ops, the convolution, its fill and padding)
    are fused into the same `scf.for`. The intermediates of one image then stay in cache
    instead of making a round trip through memory for the whole batch.

    ```mlir
    %c = linalg.conv_2d_nhwc_hwcf ins(%x, %k : ...) outs(%fill : tensor<?x26x26x32xf32>) -> ...
    %r = linalg.generic ... ins(%c, %bias : ...)   // bias + relu
    %p = linalg.pooling_nhwc_max ins(%r, %win : ...) outs(...) -> tensor<?x13x13x32xf32>
    // becomes
    %p = scf.for %n = %c0 to %batch step %c1 iter_args(%out = ...) {
      // conv, bias + relu and pooling of image %n on 1x... slices
    }
    ```
  }];
  let dependentDialects = [
    "::mlir::linalg::LinalgDialect", "::mlir::tensor::TensorDialect",
    "::mlir::scf::SCFDialect", "::mlir::affine::AffineDialect", "::mlir::arith::ArithDialect"
  ];
}

def KilnLowerToMicrokernels : Pass<"kiln-lower-to-microkernels", "func::FuncOp"> {
  let summary = "Lower conv2d and matmul on buffers to register-blocked vector loops";
  let description = [{
    After bufferization, `linalg.conv_2d_nhwc_hwcf` and `linalg.matmul` on f32 memrefs
    (static but for the leading, batch dimension) become `scf.for` nests whose innermost
    block keeps a tile of accumulators in vector registers across the whole reduction:

    - conv2d: per image and output row, a block of output pixels times up to four vectors
      of filters; for each kernel position and input channel the filter vectors are loaded
      once and each input pixel is broadcast into one FMA per vector. Strides, dilations,
      any channel and filter count (the last vector is narrower) are handled.
    - matmul: blocks of 8 rows times 2 vectors of columns, the reduction in the loop; the
      rows of a dynamic M that do not fill a block run in a one-row remainder loop.

    A `linalg.fill` of the output right before the op seeds the accumulators instead (no
    memset and reload), and an elementwise `linalg.generic` right after it that updates the
    output in place from per-channel operands (a bias) with an arith/math body (an
    activation) is applied to the accumulators before their only store. Otherwise the
    accumulators start from the output buffer. Operands whose last dimension is not
    contiguous are left alone. The fills left over (pooling outputs) become vector stores
    along the contiguous last dimension.

    ```mlir
    linalg.fill ins(%zero : f32) outs(%y : memref<1x26x26x32xf32, strided<...>>)
    linalg.conv_2d_nhwc_hwcf ins(%x, %k : ...) outs(%y : ...)
    linalg.generic ... ins(%y, %bias : ...) outs(%y : ...) { addf, maximumf }
    // becomes, per image, output row and block of 9 pixels x 2 vectors of 16 filters:
    %acc:18 = scf.for %kh ... iter_args(...) { scf.for %kw ... { scf.for %c ... {
      %w0 = vector.load %k[%kh, %kw, %c, %f0] : memref<3x3x1x32xf32>, vector<16xf32>
      %x0 = memref.load %x[%n, %ih, %iw0, %c] : ...
      %b0 = vector.broadcast %x0 : f32 to vector<16xf32>
      %a0 = vector.fma %b0, %w0, %acc0 : vector<16xf32>
      ... } } }
    // bias + relu on %acc, then one vector.store per accumulator
    ```
  }];
  let options = [
    Option<"vectorSize", "vector-size", "int64_t", "16",
           "f32 lanes per vector register (16 for AVX-512, 8 for AVX2)">,
    Option<"accumulators", "accumulators", "int64_t", "24",
           "vector accumulators per tile (leave room in the register file for operands)">
  ];
  let dependentDialects = [
    "::mlir::vector::VectorDialect", "::mlir::scf::SCFDialect",
    "::mlir::memref::MemRefDialect", "::mlir::arith::ArithDialect"
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
