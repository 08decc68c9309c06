// RUN: kiln-opt %s --kiln-lower-to-linalg --split-input-file | FileCheck %s

// CHECK-LABEL: func.func @unary
func.func @unary(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  // CHECK: tensor.dim
  // CHECK: linalg.generic
  // CHECK: arith.maximumf
  %0 = kiln.relu %x : (tensor<?x4xf32>) -> tensor<?x4xf32>
  // CHECK: math.exp
  // CHECK: arith.divf
  %1 = kiln.sigmoid %0 : (tensor<?x4xf32>) -> tensor<?x4xf32>
  // CHECK: math.tanh
  %2 = kiln.tanh %1 : (tensor<?x4xf32>) -> tensor<?x4xf32>
  // CHECK: arith.constant 1.67326319
  // CHECK: arith.constant 1.05070102
  %3 = kiln.selu %2 : (tensor<?x4xf32>) -> tensor<?x4xf32>
  // CHECK: math.absf
  // CHECK: math.log1p
  %4 = kiln.softplus %3 : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %5 = kiln.softsign %4 : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %6 = kiln.silu %5 : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %7 = kiln.exp %6 : (tensor<?x4xf32>) -> tensor<?x4xf32>
  // CHECK: arith.negf
  %8 = kiln.neg %7 : (tensor<?x4xf32>) -> tensor<?x4xf32>
  // CHECK: math.log
  %9 = kiln.log %8 : (tensor<?x4xf32>) -> tensor<?x4xf32>
  // CHECK: math.sqrt
  %10 = kiln.sqrt %9 : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %11 = kiln.abs %10 : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %12 = kiln.square %11 : (tensor<?x4xf32>) -> tensor<?x4xf32>
  // CHECK: arith.cmpf ogt
  // CHECK: arith.select
  %13 = kiln.elu %12 {alpha = 0.5 : f32} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %14 = kiln.leaky_relu %13 : (tensor<?x4xf32>) -> tensor<?x4xf32>
  // CHECK: arith.minimumf
  %15 = kiln.hard_sigmoid %14 : (tensor<?x4xf32>) -> tensor<?x4xf32>
  // CHECK: math.erf
  %16 = kiln.gelu %15 : (tensor<?x4xf32>) -> tensor<?x4xf32>
  // CHECK: arith.constant 4.471500e-02
  // CHECK: math.tanh
  %17 = kiln.gelu %16 {approximate = true} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  // CHECK-NOT: kiln.
  return %17 : tensor<?x4xf32>
}

// -----

// CHECK-DAG: #[[$ID:.+]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-DAG: #[[$ROW:.+]] = affine_map<(d0, d1, d2) -> (0, d1, d2)>
// CHECK-DAG: #[[$VEC:.+]] = affine_map<(d0, d1, d2) -> (d2)>
// CHECK-LABEL: func.func @broadcast
func.func @broadcast(%x: tensor<?x3x4xf32>, %r: tensor<1x3x4xf32>, %b: tensor<4xf32>) -> tensor<?x3x4xf32> {
  // CHECK: linalg.generic {indexing_maps = [#[[$ID]], #[[$ROW]], #[[$ID]]]
  // CHECK: arith.addf
  %0 = kiln.add %x, %r : (tensor<?x3x4xf32>, tensor<1x3x4xf32>) -> tensor<?x3x4xf32>
  // CHECK: linalg.generic {indexing_maps = [#[[$ID]], #[[$VEC]], #[[$ID]]]
  // CHECK: arith.subf
  %1 = kiln.sub %0, %b : (tensor<?x3x4xf32>, tensor<4xf32>) -> tensor<?x3x4xf32>
  // CHECK: arith.mulf
  %2 = kiln.mul %1, %b : (tensor<?x3x4xf32>, tensor<4xf32>) -> tensor<?x3x4xf32>
  // CHECK: arith.divf
  %3 = kiln.div %2, %b : (tensor<?x3x4xf32>, tensor<4xf32>) -> tensor<?x3x4xf32>
  // CHECK: arith.maximumf
  %4 = kiln.maximum %3, %b : (tensor<?x3x4xf32>, tensor<4xf32>) -> tensor<?x3x4xf32>
  // CHECK: arith.minimumf
  %5 = kiln.minimum %4, %b : (tensor<?x3x4xf32>, tensor<4xf32>) -> tensor<?x3x4xf32>
  return %5 : tensor<?x3x4xf32>
}

// -----

// CHECK-LABEL: func.func @matmul
func.func @matmul(%x: tensor<?x4xf32>, %w: tensor<4x16xf32>) -> tensor<?x16xf32> {
  // CHECK: %[[E:.+]] = tensor.empty(%{{.+}}) : tensor<?x16xf32>
  // CHECK: %[[Z:.+]] = linalg.fill ins(%{{.+}} : f32) outs(%[[E]] : tensor<?x16xf32>)
  // CHECK: linalg.matmul ins(%{{.+}}, %{{.+}} : tensor<?x4xf32>, tensor<4x16xf32>) outs(%[[Z]] : tensor<?x16xf32>)
  %0 = kiln.matmul %x, %w : (tensor<?x4xf32>, tensor<4x16xf32>) -> tensor<?x16xf32>
  return %0 : tensor<?x16xf32>
}

// CHECK-LABEL: func.func @matmul_rank3
func.func @matmul_rank3(%x: tensor<?x5x4xf32>, %w: tensor<4x16xf32>) -> tensor<?x5x16xf32> {
  // CHECK: tensor.collapse_shape %{{.+}} {{\[\[}}0, 1], [2]] : tensor<?x5x4xf32> into tensor<?x4xf32>
  // CHECK: linalg.matmul
  // CHECK: tensor.expand_shape %{{.+}} {{\[\[}}0, 1], [2]] output_shape [%{{.+}}, 5, 16] : tensor<?x16xf32> into tensor<?x5x16xf32>
  %0 = kiln.matmul %x, %w : (tensor<?x5x4xf32>, tensor<4x16xf32>) -> tensor<?x5x16xf32>
  return %0 : tensor<?x5x16xf32>
}

// -----

// CHECK-LABEL: func.func @conv_valid
func.func @conv_valid(%x: tensor<?x28x28x1xf32>, %k: tensor<3x3x1x32xf32>) -> tensor<?x26x26x32xf32> {
  // CHECK-NOT: tensor.pad
  // CHECK: linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
  %0 = kiln.conv2d %x, %k : (tensor<?x28x28x1xf32>, tensor<3x3x1x32xf32>) -> tensor<?x26x26x32xf32>
  return %0 : tensor<?x26x26x32xf32>
}

// CHECK-LABEL: func.func @conv_same_stride2
func.func @conv_same_stride2(%x: tensor<?x9x9x2xf32>, %k: tensor<3x3x2x4xf32>) -> tensor<?x5x5x4xf32> {
  // CHECK: tensor.pad %{{.+}} low[0, 1, 1, 0] high[0, 1, 1, 0]
  // CHECK: linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
  // CHECK-SAME: tensor<?x11x11x2xf32>
  %0 = kiln.conv2d %x, %k {strides = array<i64: 2, 2>, padding = "same"} : (tensor<?x9x9x2xf32>, tensor<3x3x2x4xf32>) -> tensor<?x5x5x4xf32>
  return %0 : tensor<?x5x5x4xf32>
}

// -----

// CHECK-LABEL: func.func @max_pool_same
func.func @max_pool_same(%x: tensor<?x5x5x3xf32>) -> tensor<?x3x3x3xf32> {
  // CHECK: %[[NEGINF:.+]] = arith.constant 0xFF800000 : f32
  // CHECK: tensor.pad %{{.+}} low[0, 0, 0, 0] high[0, 1, 1, 0]
  // CHECK: tensor.yield %[[NEGINF]]
  // CHECK: linalg.pooling_nhwc_max
  %0 = kiln.max_pool2d %x {pool_size = array<i64: 2, 2>, strides = array<i64: 2, 2>, padding = "same"} : (tensor<?x5x5x3xf32>) -> tensor<?x3x3x3xf32>
  return %0 : tensor<?x3x3x3xf32>
}

// CHECK-LABEL: func.func @avg_pool_valid
func.func @avg_pool_valid(%x: tensor<?x4x4x3xf32>) -> tensor<?x2x2x3xf32> {
  // CHECK: linalg.pooling_nhwc_sum
  // CHECK: arith.constant 4.000000e+00 : f32
  // CHECK: arith.divf
  %0 = kiln.avg_pool2d %x {pool_size = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<?x4x4x3xf32>) -> tensor<?x2x2x3xf32>
  return %0 : tensor<?x2x2x3xf32>
}

// CHECK-LABEL: func.func @avg_pool_same
func.func @avg_pool_same(%x: tensor<?x3x3x1xf32>) -> tensor<?x2x2x1xf32> {
  // Padded cells do not count: the last row and column average fewer cells.
  // CHECK: linalg.pooling_nhwc_sum
  // CHECK: arith.constant dense<{{\[\[\[}}4.000000e+00], [2.000000e+00]], {{\[\[}}2.000000e+00], [1.000000e+00]]]> : tensor<2x2x1xf32>
  // CHECK: arith.divf
  %0 = kiln.avg_pool2d %x {pool_size = array<i64: 2, 2>, strides = array<i64: 2, 2>, padding = "same"} : (tensor<?x3x3x1xf32>) -> tensor<?x2x2x1xf32>
  return %0 : tensor<?x2x2x1xf32>
}

// -----

// CHECK-LABEL: func.func @reshape_flatten
func.func @reshape_flatten(%x: tensor<?x5x5x64xf32>) -> tensor<?x1600xf32> {
  // CHECK: tensor.collapse_shape %{{.+}} {{\[\[}}0], [1, 2, 3]] : tensor<?x5x5x64xf32> into tensor<?x1600xf32>
  %0 = kiln.reshape %x {shape = array<i64: -1>} : (tensor<?x5x5x64xf32>) -> tensor<?x1600xf32>
  return %0 : tensor<?x1600xf32>
}

// CHECK-LABEL: func.func @reshape_general
func.func @reshape_general(%x: tensor<?x6x4xf32>) -> tensor<?x3x8xf32> {
  // CHECK: tensor.collapse_shape %{{.+}} {{\[\[}}0], [1, 2]] : tensor<?x6x4xf32> into tensor<?x24xf32>
  // CHECK: tensor.expand_shape %{{.+}} {{\[\[}}0], [1, 2]] output_shape [%{{.+}}, 3, 8] : tensor<?x24xf32> into tensor<?x3x8xf32>
  %0 = kiln.reshape %x {shape = array<i64: 3, 8>} : (tensor<?x6x4xf32>) -> tensor<?x3x8xf32>
  return %0 : tensor<?x3x8xf32>
}

// CHECK-LABEL: func.func @transpose
func.func @transpose(%x: tensor<?x3x4xf32>) -> tensor<?x4x3xf32> {
  // CHECK: linalg.transpose ins(%{{.+}} : tensor<?x3x4xf32>) outs(%{{.+}} : tensor<?x4x3xf32>) permutation = [0, 2, 1]
  %0 = kiln.transpose %x {perm = array<i64: 0, 2, 1>} : (tensor<?x3x4xf32>) -> tensor<?x4x3xf32>
  return %0 : tensor<?x4x3xf32>
}

// CHECK-LABEL: func.func @pad
func.func @pad(%x: tensor<?x4x4x3xf32>) -> tensor<?x6x6x3xf32> {
  // CHECK: %[[Z:.+]] = arith.constant 0.000000e+00 : f32
  // CHECK: tensor.pad %{{.+}} low[0, 1, 2, 0] high[0, 1, 0, 0]
  // CHECK: tensor.yield %[[Z]] : f32
  // CHECK: } : tensor<?x4x4x3xf32> to tensor<?x6x6x3xf32>
  %0 = kiln.pad %x {low = array<i64: 0, 1, 2, 0>, high = array<i64: 0, 1, 0, 0>} : (tensor<?x4x4x3xf32>) -> tensor<?x6x6x3xf32>
  return %0 : tensor<?x6x6x3xf32>
}

// CHECK-LABEL: func.func @concat
func.func @concat(%a: tensor<?x8xf32>, %b: tensor<?x4xf32>) -> tensor<?x12xf32> {
  // CHECK: %[[E:.+]] = tensor.empty(%{{.+}}) : tensor<?x12xf32>
  // CHECK: %[[A:.+]] = tensor.insert_slice %{{.+}} into %[[E]][0, 0] [%{{.+}}, 8] [1, 1]
  // CHECK: tensor.insert_slice %{{.+}} into %[[A]][0, 8] [%{{.+}}, 4] [1, 1]
  %0 = kiln.concat %a, %b {axis = -1 : i64} : (tensor<?x8xf32>, tensor<?x4xf32>) -> tensor<?x12xf32>
  return %0 : tensor<?x12xf32>
}

// -----

// CHECK-LABEL: func.func @softmax_axis1
func.func @softmax_axis1(%x: tensor<?x5x3xf32>) -> tensor<?x5x3xf32> {
  // CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction", "parallel"]
  // CHECK: arith.maximumf
  // CHECK: arith.subf
  // CHECK: math.exp
  // CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction", "parallel"]
  // CHECK: arith.addf
  // CHECK: arith.divf
  %0 = kiln.softmax %x {axis = 1 : i64} : (tensor<?x5x3xf32>) -> tensor<?x5x3xf32>
  return %0 : tensor<?x5x3xf32>
}

// CHECK-LABEL: func.func @reductions
func.func @reductions(%x: tensor<?x7x7x64xf32>) -> (tensor<?x64xf32>, tensor<?x1x1x64xf32>, tensor<?x64xf32>) {
  // CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction", "reduction", "parallel"]
  // CHECK: arith.addf
  %0 = kiln.reduce_sum %x {axes = array<i64: 1, 2>} : (tensor<?x7x7x64xf32>) -> tensor<?x64xf32>
  // CHECK: arith.divf
  // CHECK: tensor.expand_shape %{{.+}} {{\[\[}}0], [1, 2, 3]] output_shape [%{{.+}}, 1, 1, 64]
  %1 = kiln.reduce_mean %x {axes = array<i64: 1, 2>, keepdims = true} : (tensor<?x7x7x64xf32>) -> tensor<?x1x1x64xf32>
  // CHECK: arith.maximumf
  %2 = kiln.reduce_max %x {axes = array<i64: -3, -2>} : (tensor<?x7x7x64xf32>) -> tensor<?x64xf32>
  return %0, %1, %2 : tensor<?x64xf32>, tensor<?x1x1x64xf32>, tensor<?x64xf32>
}

// CHECK-LABEL: func.func @constant_and_dropout
func.func @constant_and_dropout(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  // CHECK: arith.constant dense<2.000000e+00> : tensor<4xf32>
  %c = kiln.constant dense<2.0> : tensor<4xf32>
  // CHECK-NOT: kiln.dropout
  %d = kiln.dropout %x {rate = 5.0e-01 : f32} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %0 = kiln.mul %d, %c : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

// Embedding: one generic over the result; each index is clamped to [0, rows - 1] as a float,
// truncated to an integer and read from the table.
// CHECK-LABEL: func.func @gather
func.func @gather(%t: tensor<10x4xf32>, %ids: tensor<?x3xf32>) -> tensor<?x3x4xf32> {
  // CHECK: linalg.generic
  // CHECK: arith.maxnumf
  // CHECK: arith.minnumf
  // CHECK: arith.fptosi
  // CHECK: linalg.index 2
  // CHECK: tensor.extract %{{.*}}[%{{.*}}, %{{.*}}] : tensor<10x4xf32>
  %0 = kiln.gather %t, %ids : (tensor<10x4xf32>, tensor<?x3xf32>) -> tensor<?x3x4xf32>
  return %0 : tensor<?x3x4xf32>
}
