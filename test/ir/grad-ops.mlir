// Round trip of every training op, in the custom and in the generic form.
// RUN: kiln-opt %s | kiln-opt | FileCheck %s
// RUN: kiln-opt %s --mlir-print-op-generic | kiln-opt | FileCheck %s
// RUN: kiln-opt %s --mlir-print-op-generic | FileCheck %s --check-prefix=GENERIC

// CHECK-LABEL: func.func @grad
// GENERIC-LABEL: sym_name = "grad"
func.func @grad(%loss: tensor<f32>, %w: tensor<4x16xf32>, %b: tensor<16xf32>)
    -> (tensor<4x16xf32>, tensor<16xf32>) {
  // CHECK: %{{.*}}:2 = kiln.grad %{{.*}} wrt %{{.*}}, %{{.*}} : (tensor<f32>, tensor<4x16xf32>, tensor<16xf32>) -> (tensor<4x16xf32>, tensor<16xf32>)
  // GENERIC: "kiln.grad"(%{{.*}}, %{{.*}}, %{{.*}}) : (tensor<f32>, tensor<4x16xf32>, tensor<16xf32>) -> (tensor<4x16xf32>, tensor<16xf32>)
  %dw, %db = kiln.grad %loss wrt %w, %b
      : (tensor<f32>, tensor<4x16xf32>, tensor<16xf32>) -> (tensor<4x16xf32>, tensor<16xf32>)
  return %dw, %db : tensor<4x16xf32>, tensor<16xf32>
}

// CHECK-LABEL: func.func @unary_grad
// GENERIC-LABEL: sym_name = "unary_grad"
func.func @unary_grad(%x: tensor<?x128xf32>, %dy: tensor<?x128xf32>) -> tensor<?x128xf32> {
  // CHECK: kiln.unary_grad %{{.*}}, %{{.*}} {kind = "relu"} : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
  // GENERIC: "kiln.unary_grad"(%{{.*}}, %{{.*}}) <{alpha = 1.000000e+00 : f32, approximate = false, kind = "relu", offset = 5.000000e-01 : f32, slope = 2.000000e-01 : f32}> : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
  %0 = kiln.unary_grad %x, %dy {kind = "relu"}
      : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
  // CHECK: kiln.unary_grad %{{.*}}, %{{.*}} {alpha = 3.000000e-01 : f32, kind = "leaky_relu"}
  // GENERIC: "kiln.unary_grad"(%{{.*}}, %{{.*}}) <{alpha = 3.000000e-01 : f32, {{.*}}kind = "leaky_relu"
  %1 = kiln.unary_grad %x, %0 {kind = "leaky_relu", alpha = 0.3 : f32}
      : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
  // CHECK: kiln.unary_grad %{{.*}}, %{{.*}} {kind = "hard_sigmoid", offset = 4.000000e-01 : f32, slope = 1.000000e-01 : f32}
  // GENERIC: kind = "hard_sigmoid", offset = 4.000000e-01 : f32, slope = 1.000000e-01 : f32
  %2 = kiln.unary_grad %x, %1 {kind = "hard_sigmoid", slope = 0.1 : f32, offset = 0.4 : f32}
      : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
  // CHECK: kiln.unary_grad %{{.*}}, %{{.*}} {approximate = true, kind = "gelu"}
  // GENERIC: approximate = true, kind = "gelu"
  %3 = kiln.unary_grad %x, %2 {kind = "gelu", approximate = true}
      : (tensor<?x128xf32>, tensor<?x128xf32>) -> tensor<?x128xf32>
  return %3 : tensor<?x128xf32>
}

// CHECK-LABEL: func.func @conv_grads
// GENERIC-LABEL: sym_name = "conv_grads"
func.func @conv_grads(%x: tensor<?x9x9x3xf32>, %dy: tensor<?x5x5x4xf32>, %k: tensor<3x3x3x4xf32>)
    -> (tensor<?x9x9x3xf32>, tensor<3x3x3x4xf32>) {
  // CHECK: kiln.conv2d_grad_input %{{.*}}, %{{.*}} {padding = "same", strides = array<i64: 2, 2>} : (tensor<?x5x5x4xf32>, tensor<3x3x3x4xf32>) -> tensor<?x9x9x3xf32>
  // GENERIC: "kiln.conv2d_grad_input"(%{{.*}}, %{{.*}}) <{dilations = array<i64: 1, 1>, padding = "same", strides = array<i64: 2, 2>}> : (tensor<?x5x5x4xf32>, tensor<3x3x3x4xf32>) -> tensor<?x9x9x3xf32>
  %0 = kiln.conv2d_grad_input %dy, %k {strides = array<i64: 2, 2>, padding = "same"}
      : (tensor<?x5x5x4xf32>, tensor<3x3x3x4xf32>) -> tensor<?x9x9x3xf32>
  // CHECK: kiln.conv2d_grad_kernel %{{.*}}, %{{.*}} {padding = "same", strides = array<i64: 2, 2>} : (tensor<?x9x9x3xf32>, tensor<?x5x5x4xf32>) -> tensor<3x3x3x4xf32>
  // GENERIC: "kiln.conv2d_grad_kernel"(%{{.*}}, %{{.*}}) <{dilations = array<i64: 1, 1>, padding = "same", strides = array<i64: 2, 2>}> : (tensor<?x9x9x3xf32>, tensor<?x5x5x4xf32>) -> tensor<3x3x3x4xf32>
  %1 = kiln.conv2d_grad_kernel %x, %dy {strides = array<i64: 2, 2>, padding = "same"}
      : (tensor<?x9x9x3xf32>, tensor<?x5x5x4xf32>) -> tensor<3x3x3x4xf32>
  return %0, %1 : tensor<?x9x9x3xf32>, tensor<3x3x3x4xf32>
}

// CHECK-LABEL: func.func @pool_grad
// GENERIC-LABEL: sym_name = "pool_grad"
func.func @pool_grad(%x: tensor<?x26x26x32xf32>, %dy: tensor<?x13x13x32xf32>)
    -> tensor<?x26x26x32xf32> {
  // CHECK: kiln.pool2d_grad %{{.*}}, %{{.*}} {kind = "max", pool_size = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<?x26x26x32xf32>, tensor<?x13x13x32xf32>) -> tensor<?x26x26x32xf32>
  // GENERIC: "kiln.pool2d_grad"(%{{.*}}, %{{.*}}) <{kind = "max", padding = "valid", pool_size = array<i64: 2, 2>, strides = array<i64: 2, 2>}> : (tensor<?x26x26x32xf32>, tensor<?x13x13x32xf32>) -> tensor<?x26x26x32xf32>
  %0 = kiln.pool2d_grad %x, %dy {kind = "max", pool_size = array<i64: 2, 2>,
                                 strides = array<i64: 2, 2>}
      : (tensor<?x26x26x32xf32>, tensor<?x13x13x32xf32>) -> tensor<?x26x26x32xf32>
  return %0 : tensor<?x26x26x32xf32>
}

// CHECK-LABEL: func.func @helpers
// GENERIC-LABEL: sym_name = "helpers"
func.func @helpers(%b: tensor<16xf32>, %x: tensor<?x16xf32>, %s: tensor<f32>,
                   %labels: tensor<?xf32>) -> (tensor<?x16xf32>, tensor<?x5xf32>, tensor<?x16xf32>, tensor<?x10xf32>) {
  // CHECK: kiln.broadcast_like %{{.*}}, %{{.*}} : (tensor<16xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
  // GENERIC: "kiln.broadcast_like"(%{{.*}}, %{{.*}}) : (tensor<16xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
  %0 = kiln.broadcast_like %b, %x : (tensor<16xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
  // CHECK: kiln.slice %{{.*}} {axis = -1 : i64, size = 5 : i64, start = 5 : i64} : (tensor<?x16xf32>) -> tensor<?x5xf32>
  // GENERIC: "kiln.slice"(%{{.*}}) <{axis = -1 : i64, size = 5 : i64, start = 5 : i64}> : (tensor<?x16xf32>) -> tensor<?x5xf32>
  %1 = kiln.slice %0 {axis = -1 : i64, start = 5 : i64, size = 5 : i64}
      : (tensor<?x16xf32>) -> tensor<?x5xf32>
  // CHECK: kiln.compare %{{.*}}, %{{.*}} {predicate = "ge"} : (tensor<?x16xf32>, tensor<f32>) -> tensor<?x16xf32>
  // GENERIC: "kiln.compare"(%{{.*}}, %{{.*}}) <{predicate = "ge"}> : (tensor<?x16xf32>, tensor<f32>) -> tensor<?x16xf32>
  %2 = kiln.compare %x, %s {predicate = "ge"} : (tensor<?x16xf32>, tensor<f32>) -> tensor<?x16xf32>
  // CHECK: kiln.one_hot %{{.*}} {depth = 10 : i64} : (tensor<?xf32>) -> tensor<?x10xf32>
  // GENERIC: "kiln.one_hot"(%{{.*}}) <{depth = 10 : i64}> : (tensor<?xf32>) -> tensor<?x10xf32>
  %3 = kiln.one_hot %labels {depth = 10 : i64} : (tensor<?xf32>) -> tensor<?x10xf32>
  return %0, %1, %2, %3 : tensor<?x16xf32>, tensor<?x5xf32>, tensor<?x16xf32>, tensor<?x10xf32>
}

// CHECK-LABEL: func.func @scatter_add
// GENERIC-LABEL: sym_name = "scatter_add"
func.func @scatter_add(%ids: tensor<?x10xf32>, %dy: tensor<?x10x16xf32>) -> tensor<1000x16xf32> {
  // CHECK: kiln.scatter_add %{{.*}}, %{{.*}} : (tensor<?x10xf32>, tensor<?x10x16xf32>) -> tensor<1000x16xf32>
  // GENERIC: "kiln.scatter_add"(%{{.*}}, %{{.*}}) : (tensor<?x10xf32>, tensor<?x10x16xf32>) -> tensor<1000x16xf32>
  %0 = kiln.scatter_add %ids, %dy : (tensor<?x10xf32>, tensor<?x10x16xf32>) -> tensor<1000x16xf32>
  return %0 : tensor<1000x16xf32>
}

// CHECK-LABEL: func.func @matmul_grad_kernel
// GENERIC-LABEL: sym_name = "matmul_grad_kernel"
func.func @matmul_grad_kernel(%x: tensor<?x10x64xf32>, %dy: tensor<?x10x8xf32>) -> tensor<64x8xf32> {
  // CHECK: kiln.matmul_grad_kernel %{{.*}}, %{{.*}} : (tensor<?x10x64xf32>, tensor<?x10x8xf32>) -> tensor<64x8xf32>
  // GENERIC: "kiln.matmul_grad_kernel"(%{{.*}}, %{{.*}}) : (tensor<?x10x64xf32>, tensor<?x10x8xf32>) -> tensor<64x8xf32>
  %0 = kiln.matmul_grad_kernel %x, %dy : (tensor<?x10x64xf32>, tensor<?x10x8xf32>) -> tensor<64x8xf32>
  return %0 : tensor<64x8xf32>
}
