// Producer-consumer fusion and its off switch (kilnc --no-fusion, PipelineOptions::fusion,
// KILN_NO_FUSION=1 for the JIT). With fusion, Dense's bias add and relu ride in one loop nest
// after the matmul, and an SGD update (w - lr * g) is one pass over the weight; without, each
// op writes its own intermediate buffer.
// RUN: rm -rf %t.on %t.off
// RUN: kilnc compile %s --emit=llvm-dialect --dump-ir-after-all=%t.on -o /dev/null
// RUN: kilnc compile %s --emit=llvm-dialect --no-fusion --dump-ir-after-all=%t.off -o /dev/null
// RUN: cat %t.on/*-one-shot-bufferize.mlir | FileCheck %s --check-prefix=ON
// RUN: cat %t.off/*-one-shot-bufferize.mlir | FileCheck %s --check-prefix=OFF
// RUN: kiln-opt %s --kiln-to-linalg --kiln-linalg-to-llvm=fusion=false -o /dev/null

// ON-LABEL: func.func @dense_relu(
// ON: linalg.matmul
// ON-COUNT-1: linalg.generic
// ON-NOT: linalg.generic
// ON: return
// OFF-LABEL: func.func @dense_relu(
// OFF: linalg.matmul
// OFF-COUNT-2: linalg.generic
// OFF: return
func.func @dense_relu(%x: tensor<?x16xf32>, %w: tensor<16x8xf32>, %b: tensor<8xf32>) -> tensor<?x8xf32> {
  %0 = kiln.matmul %x, %w : (tensor<?x16xf32>, tensor<16x8xf32>) -> tensor<?x8xf32>
  %1 = kiln.add %0, %b : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  %2 = kiln.relu %1 : (tensor<?x8xf32>) -> tensor<?x8xf32>
  return %2 : tensor<?x8xf32>
}

// ON-LABEL: func.func @sgd_update(
// ON-COUNT-1: linalg.generic
// ON-NOT: linalg.generic
// ON: return
// OFF-LABEL: func.func @sgd_update(
// OFF-COUNT-2: linalg.generic
// OFF: return
func.func @sgd_update(%w: tensor<64x32xf32>, %g: tensor<64x32xf32>, %lr: tensor<f32>) -> tensor<64x32xf32> {
  %0 = kiln.mul %g, %lr : (tensor<64x32xf32>, tensor<f32>) -> tensor<64x32xf32>
  %1 = kiln.sub %w, %0 : (tensor<64x32xf32>, tensor<64x32xf32>) -> tensor<64x32xf32>
  return %1 : tensor<64x32xf32>
}
