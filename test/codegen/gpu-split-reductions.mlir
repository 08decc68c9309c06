// Narrow reductions on a GPU. A bias gradient (32 sums over batch x 26 x 26) would be 32
// threads summing 21632 terms each at batch 32; kiln-gpu-split-reductions makes the batch and
// then the row loop parallel (partials), folded back by linalg.reduce with the same combiner.
// RUN: kiln-opt %s --kiln-gpu-split-reductions | FileCheck %s
// RUN: kiln-opt %s --kiln-gpu-split-reductions=min-parallel=16 | FileCheck %s --check-prefix=WIDE
// RUN: kiln-opt %s --kiln-to-linalg --kiln-gpu-split-reductions | FileCheck %s --check-prefix=DENSE
// RUN: kiln-opt %s --kiln-to-linalg --kiln-linalg-to-gpu | FileCheck %s --check-prefix=GPU

// CHECK-LABEL: func.func @bias_grad(
// CHECK-SAME: %[[DY:.*]]: tensor<?x26x26x32xf32>, %[[INIT:.*]]: tensor<32xf32>
// CHECK: %[[E1:.*]] = tensor.empty(%{{.*}}) : tensor<?x32xf32>
// CHECK: %[[P1:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[E1]] : tensor<?x32xf32>)
// CHECK: %[[E2:.*]] = tensor.empty(%{{.*}}) : tensor<26x?x32xf32>
// CHECK: %[[P2:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[E2]] : tensor<26x?x32xf32>)
// CHECK: %[[G:.*]] = linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel", "reduction", "parallel"]
// CHECK-SAME: ins(%[[DY]] : tensor<?x26x26x32xf32>) outs(%[[P2]] : tensor<26x?x32xf32>)
// CHECK: arith.addf
// CHECK: %[[R1:.*]] = linalg.reduce ins(%[[G]] : tensor<26x?x32xf32>) outs(%[[P1]] : tensor<?x32xf32>) dimensions = [0]
// CHECK: arith.addf
// CHECK: %[[R2:.*]] = linalg.reduce ins(%[[R1]] : tensor<?x32xf32>) outs(%[[INIT]] : tensor<32xf32>) dimensions = [0]
// CHECK: return %[[R2]]

#map_in = affine_map<(n, y, x, c) -> (n, y, x, c)>
#map_out = affine_map<(n, y, x, c) -> (c)>
func.func @bias_grad(%dy: tensor<?x26x26x32xf32>, %init: tensor<32xf32>) -> tensor<32xf32> {
  %r = linalg.generic {indexing_maps = [#map_in, #map_out],
                       iterator_types = ["reduction", "reduction", "reduction", "parallel"]}
      ins(%dy : tensor<?x26x26x32xf32>) outs(%init : tensor<32xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %s = arith.addf %a, %acc : f32
    linalg.yield %s : f32
  } -> tensor<32xf32>
  return %r : tensor<32xf32>
}
// 1024 maxima of 1024 terms, one reduction loop: split by a ratio (linalg::splitReduction),
// 64 partials of 16 terms per row. With min-parallel=16 it is wide enough as it is.
// CHECK-LABEL: func.func @wide(
// CHECK: tensor.expand_shape %{{.*}} {{\[}}[0], [1, 2]] output_shape [1024, 64, 16]
// CHECK: linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "reduction", "parallel"]
// CHECK-SAME: outs(%{{.*}} : tensor<64x1024xf32>)
// CHECK: linalg.reduce
// CHECK-SAME: dimensions = [0]
// CHECK: return
// WIDE-LABEL: func.func @wide(
// WIDE-NEXT: linalg.reduce
// WIDE: return
func.func @wide(%x: tensor<1024x1024xf32>, %init: tensor<1024xf32>) -> tensor<1024xf32> {
  %r = linalg.reduce ins(%x : tensor<1024x1024xf32>) outs(%init : tensor<1024xf32>) dimensions = [1]
    (%a: f32, %b: f32) { %m = arith.maximumf %a, %b : f32
      linalg.yield %m : f32 }
  return %r : tensor<1024xf32>
}
// A max over (4, 512) per row: the 4 becomes parallel, with -inf as the fill, then the 512
// is split by 32 (16 terms per thread).
// CHECK-LABEL: func.func @max_narrow(
// CHECK: arith.constant 0xFF800000 : f32
// CHECK: tensor.expand_shape %{{.*}} output_shape [8, 4, 32, 16]
// CHECK: linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel", "reduction", "parallel"]
// CHECK-SAME: outs(%{{.*}} : tensor<32x4x8xf32>)
// CHECK: arith.maximumf
// CHECK: linalg.reduce
// CHECK: arith.maximumf
// CHECK: linalg.reduce
// CHECK: arith.maximumf
// GPU: gpu.binary
func.func @max_narrow(%x: tensor<8x4x512xf32>, %init: tensor<8xf32>) -> tensor<8xf32> {
  %r = linalg.reduce ins(%x : tensor<8x4x512xf32>) outs(%init : tensor<8xf32>) dimensions = [1, 2]
    (%a: f32, %b: f32) { %m = arith.maximumf %a, %b : f32
      linalg.yield %m : f32 }
  return %r : tensor<8xf32>
}

// A convolution, its bias, relu, pooling and a mean loss with the kernel and bias gradients:
// the whole graph reaches PTX and a Dense layer whose k = 1600 is split by 16 over a dynamic batch.
// GPU-LABEL: llvm.func @cnn(
// GPU-LABEL: llvm.func @dense(
func.func @cnn(%x: tensor<?x28x28x1xf32>, %k: tensor<3x3x1x32xf32>, %b: tensor<32xf32>) -> (tensor<f32>, tensor<3x3x1x32xf32>, tensor<32xf32>) {
  %0 = kiln.conv2d %x, %k : (tensor<?x28x28x1xf32>, tensor<3x3x1x32xf32>) -> tensor<?x26x26x32xf32>
  %1 = kiln.add %0, %b : (tensor<?x26x26x32xf32>, tensor<32xf32>) -> tensor<?x26x26x32xf32>
  %2 = kiln.relu %1 : (tensor<?x26x26x32xf32>) -> tensor<?x26x26x32xf32>
  %3 = kiln.max_pool2d %2 {pool_size = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<?x26x26x32xf32>) -> tensor<?x13x13x32xf32>
  %sq = kiln.square %3 : (tensor<?x13x13x32xf32>) -> tensor<?x13x13x32xf32>
  %l = kiln.reduce_mean %sq {axes = array<i64: 0, 1, 2, 3>} : (tensor<?x13x13x32xf32>) -> tensor<f32>
  %gk = kiln.grad %l wrt %k : (tensor<f32>, tensor<3x3x1x32xf32>) -> tensor<3x3x1x32xf32>
  %gb = kiln.grad %l wrt %b : (tensor<f32>, tensor<32xf32>) -> tensor<32xf32>
  return %l, %gk, %gb : tensor<f32>, tensor<3x3x1x32xf32>, tensor<32xf32>
}
// DENSE-LABEL: func.func @dense(
// DENSE: tensor.expand_shape %{{.*}} {{\[}}[0], [1, 2]] output_shape [%{{.*}}, 16, 100]
// DENSE: tensor.expand_shape %{{.*}} {{\[}}[0, 1], [2]] output_shape [16, 100, 128]
// DENSE: linalg.generic
// DENSE-SAME: iterator_types = ["parallel", "parallel", "reduction", "parallel"]
// DENSE-SAME: outs(%{{.*}} : tensor<16x?x128xf32>)
// DENSE: linalg.reduce
func.func @dense(%x: tensor<?x1600xf32>, %w: tensor<1600x128xf32>) -> tensor<?x128xf32> {
  %y = kiln.matmul %x, %w : (tensor<?x1600xf32>, tensor<1600x128xf32>) -> tensor<?x128xf32>
  return %y : tensor<?x128xf32>
}
