// The training ops that kiln-autodiff emits, lowered by --kiln-lower-to-linalg.
// RUN: kiln-opt %s --kiln-lower-to-linalg --split-input-file | FileCheck %s

// CHECK-LABEL: func.func @unary_grad_relu
func.func @unary_grad_relu(%x: tensor<?x4xf32>, %dy: tensor<?x4xf32>) -> tensor<?x4xf32> {
  // CHECK: tensor.dim
  // CHECK: linalg.generic
  // CHECK-SAME: ins(%{{.*}}, %{{.*}} : tensor<?x4xf32>, tensor<?x4xf32>)
  // CHECK: arith.cmpf ogt
  // CHECK: arith.select
  // CHECK: arith.mulf
  %0 = kiln.unary_grad %x, %dy {kind = "relu"}
      : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

// CHECK-LABEL: func.func @unary_grad_kinds
func.func @unary_grad_kinds(%x: tensor<?x4xf32>, %dy: tensor<?x4xf32>) -> tensor<?x4xf32> {
  // sigmoid: s (1 - s) with the forward's 1 / (1 + exp(-x))
  // CHECK: linalg.generic
  // CHECK: arith.negf
  // CHECK: math.exp
  // CHECK: arith.divf
  // CHECK: arith.subf
  %0 = kiln.unary_grad %x, %dy {kind = "sigmoid"}
      : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  // CHECK: linalg.generic
  // CHECK: math.tanh
  %1 = kiln.unary_grad %x, %0 {kind = "tanh"}
      : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  // CHECK: linalg.generic
  // CHECK-DAG: arith.constant 1.05070102
  // CHECK-DAG: arith.constant 1.67326319
  // CHECK: math.exp
  %2 = kiln.unary_grad %x, %1 {kind = "selu"}
      : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  // CHECK: linalg.generic
  // CHECK: math.sqrt
  %3 = kiln.unary_grad %x, %2 {kind = "sqrt"}
      : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  // CHECK: linalg.generic
  // CHECK: arith.constant 3.000000e-01
  %4 = kiln.unary_grad %x, %3 {kind = "leaky_relu", alpha = 0.3 : f32}
      : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  // slope where 0 < slope x + offset < 1
  // CHECK: linalg.generic
  // CHECK: arith.cmpf ogt
  // CHECK: arith.cmpf olt
  // CHECK: arith.andi
  %5 = kiln.unary_grad %x, %4 {kind = "hard_sigmoid"}
      : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  // exact gelu: Phi(x) + x phi(x)
  // CHECK: linalg.generic
  // CHECK: math.erf
  // CHECK: math.exp
  %6 = kiln.unary_grad %x, %5 {kind = "gelu"}
      : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  // CHECK: linalg.generic
  // CHECK: arith.constant 4.471500e-02
  // CHECK: math.tanh
  %7 = kiln.unary_grad %x, %6 {kind = "gelu", approximate = true}
      : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  // CHECK-NOT: kiln.
  return %7 : tensor<?x4xf32>
}

// -----

// Stride 2, "same": dy is scattered into zeros with stride 2 at offset (KH - 1) * d, the
// kernel is flipped with C and F swapped, a stride-1 conv, then the padding (1 row/col
// before) is sliced off.
// CHECK-DAG: #[[$FLIP:.*]] = affine_map<(d0, d1, d2, d3) -> (-d0 + 2, -d1 + 2, d3, d2)>
// CHECK-LABEL: func.func @conv2d_grad_input
func.func @conv2d_grad_input(%dy: tensor<?x5x5x4xf32>, %k: tensor<3x3x3x4xf32>)
    -> tensor<?x9x9x3xf32> {
  // CHECK: %[[E:.*]] = linalg.fill {{.*}} -> tensor<?x13x13x4xf32>
  // CHECK: %[[S:.*]] = tensor.insert_slice %{{.*}} into %[[E]][0, 2, 2, 0] [%{{.*}}, 5, 5, 4] [1, 2, 2, 1]
  // CHECK: %[[F:.*]] = linalg.generic {indexing_maps = [#[[$FLIP]], #{{.*}}]
  // CHECK-SAME: ins(%{{.*}} : tensor<3x3x3x4xf32>) outs(%{{.*}} : tensor<3x3x4x3xf32>)
  // CHECK: %[[C:.*]] = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
  // CHECK-SAME: ins(%[[S]], %[[F]] : tensor<?x13x13x4xf32>, tensor<3x3x4x3xf32>)
  // CHECK-SAME: -> tensor<?x11x11x3xf32>
  // CHECK: tensor.extract_slice %[[C]][0, 1, 1, 0] [%{{.*}}, 9, 9, 3] [1, 1, 1, 1]
  // CHECK-SAME: to tensor<?x9x9x3xf32>
  %0 = kiln.conv2d_grad_input %dy, %k {strides = array<i64: 2, 2>, padding = "same"}
      : (tensor<?x5x5x4xf32>, tensor<3x3x3x4xf32>) -> tensor<?x9x9x3xf32>
  return %0 : tensor<?x9x9x3xf32>
}

// -----

// Dilation 2, "valid": the conv keeps the dilation, nothing is sliced off.
// CHECK-LABEL: func.func @conv2d_grad_input_dilated
func.func @conv2d_grad_input_dilated(%dy: tensor<?x3x3x2xf32>, %k: tensor<3x3x1x2xf32>)
    -> tensor<?x7x7x1xf32> {
  // CHECK: tensor.insert_slice %{{.*}} into %{{.*}}[0, 4, 4, 0] [%{{.*}}, 3, 3, 2] [1, 1, 1, 1]
  // CHECK: linalg.conv_2d_nhwc_hwcf {dilations = dense<2> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
  // CHECK-SAME: -> tensor<?x7x7x1xf32>
  // CHECK-NOT: tensor.extract_slice
  %0 = kiln.conv2d_grad_input %dy, %k {dilations = array<i64: 2, 2>}
      : (tensor<?x3x3x2xf32>, tensor<3x3x1x2xf32>) -> tensor<?x7x7x1xf32>
  return %0 : tensor<?x7x7x1xf32>
}

// -----

// A convolution of x as (C, H, W, N) with dy as (OH, OW, N, F): stride = the forward's
// dilation, dilation = the forward's stride, the batch as the reduced channel.
// CHECK-LABEL: func.func @conv2d_grad_kernel
func.func @conv2d_grad_kernel(%x: tensor<?x9x9x3xf32>, %dy: tensor<?x5x5x4xf32>)
    -> tensor<3x3x3x4xf32> {
  // CHECK: tensor.pad %{{.*}} low[0, 1, 1, 0] high[0, 1, 1, 0]
  // CHECK: linalg.transpose ins(%{{.*}} : tensor<?x11x11x3xf32>) outs(%{{.*}} : tensor<3x11x11x?xf32>) permutation = [3, 1, 2, 0]
  // CHECK: linalg.transpose ins(%{{.*}} : tensor<?x5x5x4xf32>) outs(%{{.*}} : tensor<5x5x?x4xf32>) permutation = [1, 2, 0, 3]
  // CHECK: linalg.fill {{.*}} -> tensor<3x3x3x4xf32>
  // CHECK: linalg.conv_2d_nhwc_hwcf {dilations = dense<2> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
  // CHECK-SAME: -> tensor<3x3x3x4xf32>
  // CHECK: linalg.transpose {{.*}} permutation = [1, 2, 0, 3]
  %0 = kiln.conv2d_grad_kernel %x, %dy {strides = array<i64: 2, 2>, padding = "same"}
      : (tensor<?x9x9x3xf32>, tensor<?x5x5x4xf32>) -> tensor<3x3x3x4xf32>
  return %0 : tensor<3x3x3x4xf32>
}

// -----

// Max: per-window first argmax (ties to the smaller row-major index), then a gather over the
// input cells.
// CHECK-LABEL: func.func @max_pool_grad
func.func @max_pool_grad(%x: tensor<?x5x5x2xf32>, %dy: tensor<?x3x3x2xf32>)
    -> tensor<?x5x5x2xf32> {
  // CHECK: tensor.pad
  // CHECK: arith.constant 0xFF800000
  // CHECK: linalg.generic
  // CHECK-SAME: outs(%{{.*}}, %{{.*}} : tensor<?x3x3x2xf32>, tensor<?x3x3x2xi32>)
  // CHECK: arith.cmpi slt
  // CHECK: linalg.generic
  // CHECK-SAME: outs(%{{.*}} : tensor<?x5x5x2xf32>)
  // CHECK: tensor.extract %{{.*}} : tensor<?x3x3x2xf32>
  // CHECK: tensor.extract %{{.*}} : tensor<?x3x3x2xi32>
  // CHECK: arith.select
  %0 = kiln.pool2d_grad %x, %dy {kind = "max", pool_size = array<i64: 2, 2>,
                                 strides = array<i64: 2, 2>, padding = "same"}
      : (tensor<?x5x5x2xf32>, tensor<?x3x3x2xf32>) -> tensor<?x5x5x2xf32>
  return %0 : tensor<?x5x5x2xf32>
}

// -----

// Avg with overlapping windows: dy divided by each window's count of valid cells, gathered.
// CHECK-LABEL: func.func @avg_pool_grad
func.func @avg_pool_grad(%x: tensor<?x7x7x2xf32>, %dy: tensor<?x3x3x2xf32>)
    -> tensor<?x7x7x2xf32> {
  // CHECK-NOT: tensor.pad
  // CHECK: linalg.generic
  // CHECK: tensor.extract %{{.*}} : tensor<?x3x3x2xf32>
  // CHECK: arith.sitofp
  // CHECK: arith.divf
  %0 = kiln.pool2d_grad %x, %dy {kind = "avg", pool_size = array<i64: 3, 3>,
                                 strides = array<i64: 2, 2>}
      : (tensor<?x7x7x2xf32>, tensor<?x3x3x2xf32>) -> tensor<?x7x7x2xf32>
  return %0 : tensor<?x7x7x2xf32>
}

// -----

// Tiling windows: one parallel pass over x viewed as (N, OH, PH, OW, PW, C), each window's
// cells read through constant-offset maps; the row and column past the last window stay 0.
// CHECK-LABEL: func.func @max_pool_grad_tiling
func.func @max_pool_grad_tiling(%x: tensor<?x5x5x3xf32>, %dy: tensor<?x2x2x3xf32>)
    -> tensor<?x5x5x3xf32> {
  // CHECK: tensor.extract_slice %{{.*}}[0, 0, 0, 0] [%{{.*}}, 4, 4, 3] [1, 1, 1, 1]
  // CHECK: tensor.expand_shape {{.*}} into tensor<?x2x2x2x2x3xf32>
  // CHECK: linalg.generic
  // CHECK-SAME: iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "parallel"]
  // CHECK-SAME: ins(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} :
  // CHECK-NOT: tensor.extract
  // CHECK: linalg.index 2
  // CHECK: tensor.collapse_shape {{.*}} into tensor<?x4x4x3xf32>
  // CHECK: linalg.fill
  // CHECK: tensor.insert_slice
  %0 = kiln.pool2d_grad %x, %dy {kind = "max", pool_size = array<i64: 2, 2>,
                                 strides = array<i64: 2, 2>}
      : (tensor<?x5x5x3xf32>, tensor<?x2x2x3xf32>) -> tensor<?x5x5x3xf32>
  return %0 : tensor<?x5x5x3xf32>
}

// -----

// CHECK-DAG: #[[$B:.*]] = affine_map<(d0, d1) -> (d1)>
// CHECK-LABEL: func.func @broadcast_like
func.func @broadcast_like(%b: tensor<16xf32>, %x: tensor<?x16xf32>) -> tensor<?x16xf32> {
  // CHECK: %[[N:.*]] = tensor.dim %{{.*}}, %{{.*}} : tensor<?x16xf32>
  // CHECK: tensor.empty(%[[N]]) : tensor<?x16xf32>
  // CHECK: linalg.generic {indexing_maps = [#[[$B]], #{{.*}}]
  %0 = kiln.broadcast_like %b, %x : (tensor<16xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
  return %0 : tensor<?x16xf32>
}

// -----

// CHECK-LABEL: func.func @slice
func.func @slice(%x: tensor<?x10xf32>) -> tensor<?x5xf32> {
  // CHECK: tensor.extract_slice %{{.*}}[0, 5] [%{{.*}}, 5] [1, 1] : tensor<?x10xf32> to tensor<?x5xf32>
  %0 = kiln.slice %x {axis = -1 : i64, start = 5 : i64, size = 5 : i64}
      : (tensor<?x10xf32>) -> tensor<?x5xf32>
  return %0 : tensor<?x5xf32>
}

// -----

// CHECK-LABEL: func.func @compare
func.func @compare(%a: tensor<?x4xf32>, %b: tensor<f32>) -> tensor<?x4xf32> {
  // CHECK: linalg.generic
  // CHECK: arith.cmpf oge
  // CHECK: arith.select %{{.*}}, %{{.*}}, %{{.*}} : f32
  %0 = kiln.compare %a, %b {predicate = "ge"}
      : (tensor<?x4xf32>, tensor<f32>) -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

// CHECK-DAG: #[[$L:.*]] = affine_map<(d0, d1) -> (d0, 0)>
// CHECK-LABEL: func.func @one_hot
func.func @one_hot(%labels: tensor<?x1xf32>) -> tensor<?x10xf32> {
  // CHECK: linalg.generic {indexing_maps = [#[[$L]], #{{.*}}]
  // CHECK: linalg.index 1
  // CHECK: arith.sitofp
  // CHECK: arith.cmpf oge
  // CHECK: arith.cmpf olt
  %0 = kiln.one_hot %labels {depth = 10 : i64} : (tensor<?x1xf32>) -> tensor<?x10xf32>
  return %0 : tensor<?x10xf32>
}

// -----

// Training dropout: one generic; Philox rounds (mului_extended) on the flat index and the step,
// keep where the uniform draw >= rate, scale by 1 / (1 - rate).
// CHECK-LABEL: func.func @dropout_training
// CHECK: tensor.extract %{{.*}}[] : tensor<i64>
// CHECK: linalg.generic
// CHECK-COUNT-20: arith.mului_extended
// CHECK: arith.cmpf oge
// CHECK: arith.select
func.func @dropout_training(%x: tensor<?x6xf32>, %step: tensor<i64>) -> tensor<?x6xf32> {
  %0 = kiln.dropout %x, %step {rate = 0.25 : f32, seed = 9 : i64, training = true} : (tensor<?x6xf32>, tensor<i64>) -> tensor<?x6xf32>
  return %0 : tensor<?x6xf32>
}

// -----

// GaussianNoise's samples: the dropout generic's Philox rounds, then Box-Muller on two words.
// CHECK-LABEL: func.func @random_normal
// CHECK: tensor.extract %{{.*}}[] : tensor<i64>
// CHECK: linalg.generic
// CHECK-COUNT-20: arith.mului_extended
// CHECK: math.log
// CHECK: math.sqrt
// CHECK: math.cos
func.func @random_normal(%x: tensor<?x6xf32>, %step: tensor<i64>) -> tensor<?x6xf32> {
  %0 = kiln.random_normal %x, %step {seed = 9 : i64} : (tensor<?x6xf32>, tensor<i64>) -> tensor<?x6xf32>
  return %0 : tensor<?x6xf32>
}

// -----

// The Embedding's gradient: a zero table, then a loop over the flattened indices and the
// features that adds each gradient value into the row its index names.
// CHECK-LABEL: func.func @scatter_add
func.func @scatter_add(%ids: tensor<?x3xf32>, %dy: tensor<?x3x4xf32>) -> tensor<10x4xf32> {
  // CHECK: tensor.collapse_shape %{{.*}} {{\[\[}}0, 1]] : tensor<?x3xf32> into tensor<?xf32>
  // CHECK: linalg.fill
  // CHECK: scf.for
  // CHECK: arith.fptosi
  // CHECK: scf.for
  // CHECK: arith.addf
  // CHECK: tensor.insert
  %0 = kiln.scatter_add %ids, %dy : (tensor<?x3xf32>, tensor<?x3x4xf32>) -> tensor<10x4xf32>
  return %0 : tensor<10x4xf32>
}

// -----

// A Dense kernel's gradient on sequences: both operands collapse to (M, K) and (M, N), then
// one generic reduces over M.
// CHECK-LABEL: func.func @matmul_grad_kernel
func.func @matmul_grad_kernel(%x: tensor<?x5x4xf32>, %dy: tensor<?x5x3xf32>) -> tensor<4x3xf32> {
  // CHECK: tensor.collapse_shape %{{.*}} {{\[\[}}0, 1], [2]] : tensor<?x5x4xf32> into tensor<?x4xf32>
  // CHECK: tensor.collapse_shape %{{.*}} {{\[\[}}0, 1], [2]] : tensor<?x5x3xf32> into tensor<?x3xf32>
  // CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]
  // CHECK: arith.mulf
  // CHECK: arith.addf
  %0 = kiln.matmul_grad_kernel %x, %dy : (tensor<?x5x4xf32>, tensor<?x5x3xf32>) -> tensor<4x3xf32>
  return %0 : tensor<4x3xf32>
}
