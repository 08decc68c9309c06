// Round trip of every kiln op, in the custom and in the generic form.
// RUN: kiln-opt %s | kiln-opt | FileCheck %s
// RUN: kiln-opt %s --mlir-print-op-generic | kiln-opt | FileCheck %s
// RUN: kiln-opt %s --mlir-print-op-generic | FileCheck %s --check-prefix=GENERIC

// CHECK-LABEL: func.func @unary
// GENERIC-LABEL: sym_name = "unary"
func.func @unary(%x: tensor<?x10xf32>) -> tensor<?x10xf32> {
  // CHECK: kiln.relu %{{.*}} : (tensor<?x10xf32>) -> tensor<?x10xf32>
  // GENERIC: "kiln.relu"(%{{.*}}) : (tensor<?x10xf32>) -> tensor<?x10xf32>
  %0 = kiln.relu %x : (tensor<?x10xf32>) -> tensor<?x10xf32>
  // CHECK: kiln.sigmoid
  // GENERIC: "kiln.sigmoid"
  %1 = kiln.sigmoid %0 : (tensor<?x10xf32>) -> tensor<?x10xf32>
  // CHECK: kiln.tanh
  // GENERIC: "kiln.tanh"
  %2 = kiln.tanh %1 : (tensor<?x10xf32>) -> tensor<?x10xf32>
  // CHECK: kiln.selu
  // GENERIC: "kiln.selu"
  %3 = kiln.selu %2 : (tensor<?x10xf32>) -> tensor<?x10xf32>
  // CHECK: kiln.softplus
  // GENERIC: "kiln.softplus"
  %4 = kiln.softplus %3 : (tensor<?x10xf32>) -> tensor<?x10xf32>
  // CHECK: kiln.softsign
  // GENERIC: "kiln.softsign"
  %5 = kiln.softsign %4 : (tensor<?x10xf32>) -> tensor<?x10xf32>
  // CHECK: kiln.silu
  // GENERIC: "kiln.silu"
  %6 = kiln.silu %5 : (tensor<?x10xf32>) -> tensor<?x10xf32>
  // CHECK: kiln.exp
  // GENERIC: "kiln.exp"
  %7 = kiln.exp %6 : (tensor<?x10xf32>) -> tensor<?x10xf32>
  // CHECK: kiln.neg
  // GENERIC: "kiln.neg"
  %8 = kiln.neg %7 : (tensor<?x10xf32>) -> tensor<?x10xf32>
  // CHECK: kiln.log
  // GENERIC: "kiln.log"
  %9 = kiln.log %8 : (tensor<?x10xf32>) -> tensor<?x10xf32>
  // CHECK: kiln.sqrt
  // GENERIC: "kiln.sqrt"
  %10 = kiln.sqrt %9 : (tensor<?x10xf32>) -> tensor<?x10xf32>
  // CHECK: kiln.abs
  // GENERIC: "kiln.abs"
  %11 = kiln.abs %10 : (tensor<?x10xf32>) -> tensor<?x10xf32>
  // CHECK: kiln.square
  // GENERIC: "kiln.square"
  %12 = kiln.square %11 : (tensor<?x10xf32>) -> tensor<?x10xf32>
  return %12 : tensor<?x10xf32>
}

// CHECK-LABEL: func.func @unary_with_attributes
// GENERIC-LABEL: sym_name = "unary_with_attributes"
func.func @unary_with_attributes(%x: tensor<?x10xf32>) -> tensor<?x10xf32> {
  // Default-valued attributes are elided when printed.
  // CHECK: kiln.elu %{{.*}} : (tensor<?x10xf32>) -> tensor<?x10xf32>
  // GENERIC: "kiln.elu"(%{{.*}}) <{alpha = 1.000000e+00 : f32}>
  %0 = kiln.elu %x : (tensor<?x10xf32>) -> tensor<?x10xf32>
  // CHECK: kiln.elu %{{.*}} {alpha = 5.000000e-01 : f32}
  // GENERIC: "kiln.elu"(%{{.*}}) <{alpha = 5.000000e-01 : f32}>
  %1 = kiln.elu %0 {alpha = 0.5 : f32} : (tensor<?x10xf32>) -> tensor<?x10xf32>
  // CHECK: kiln.leaky_relu %{{.*}} : (tensor<?x10xf32>) -> tensor<?x10xf32>
  // GENERIC: "kiln.leaky_relu"
  %2 = kiln.leaky_relu %1 : (tensor<?x10xf32>) -> tensor<?x10xf32>
  // CHECK: kiln.leaky_relu %{{.*}} {alpha = 1.000000e-01 : f32}
  %3 = kiln.leaky_relu %2 {alpha = 0.1 : f32} : (tensor<?x10xf32>) -> tensor<?x10xf32>
  // Keras 2's hard_sigmoid is the default; Keras 3's sets slope = 1/6.
  // CHECK: kiln.hard_sigmoid %{{.*}} : (tensor<?x10xf32>) -> tensor<?x10xf32>
  // GENERIC: "kiln.hard_sigmoid"(%{{.*}}) <{offset = 5.000000e-01 : f32, slope = 2.000000e-01 : f32}>
  %4 = kiln.hard_sigmoid %3 : (tensor<?x10xf32>) -> tensor<?x10xf32>
  // CHECK: kiln.hard_sigmoid %{{.*}} {slope = 0.166666672 : f32}
  %5 = kiln.hard_sigmoid %4 {slope = 0.166666672 : f32, offset = 0.5 : f32} : (tensor<?x10xf32>) -> tensor<?x10xf32>
  // CHECK: kiln.gelu %{{.*}} : (tensor<?x10xf32>) -> tensor<?x10xf32>
  // GENERIC: "kiln.gelu"(%{{.*}}) <{approximate = false}>
  %6 = kiln.gelu %5 : (tensor<?x10xf32>) -> tensor<?x10xf32>
  // CHECK: kiln.gelu %{{.*}} {approximate = true}
  %7 = kiln.gelu %6 {approximate = true} : (tensor<?x10xf32>) -> tensor<?x10xf32>
  return %7 : tensor<?x10xf32>
}

// CHECK-LABEL: func.func @binary
// GENERIC-LABEL: sym_name = "binary"
func.func @binary(%x: tensor<?x16xf32>, %b: tensor<16xf32>, %y: tensor<?x1xf32>) -> tensor<?x16xf32> {
  // CHECK: kiln.add %{{.*}}, %{{.*}} : (tensor<?x16xf32>, tensor<16xf32>) -> tensor<?x16xf32>
  // GENERIC: "kiln.add"(%{{.*}}, %{{.*}}) : (tensor<?x16xf32>, tensor<16xf32>) -> tensor<?x16xf32>
  %0 = kiln.add %x, %b : (tensor<?x16xf32>, tensor<16xf32>) -> tensor<?x16xf32>
  // CHECK: kiln.sub %{{.*}}, %{{.*}} : (tensor<?x16xf32>, tensor<?x1xf32>) -> tensor<?x16xf32>
  // GENERIC: "kiln.sub"
  %1 = kiln.sub %0, %y : (tensor<?x16xf32>, tensor<?x1xf32>) -> tensor<?x16xf32>
  // CHECK: kiln.mul
  // GENERIC: "kiln.mul"
  %2 = kiln.mul %1, %b : (tensor<?x16xf32>, tensor<16xf32>) -> tensor<?x16xf32>
  // CHECK: kiln.div
  // GENERIC: "kiln.div"
  %3 = kiln.div %2, %b : (tensor<?x16xf32>, tensor<16xf32>) -> tensor<?x16xf32>
  // CHECK: kiln.maximum
  // GENERIC: "kiln.maximum"
  %4 = kiln.maximum %3, %x : (tensor<?x16xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
  // CHECK: kiln.minimum
  // GENERIC: "kiln.minimum"
  %5 = kiln.minimum %4, %b : (tensor<?x16xf32>, tensor<16xf32>) -> tensor<?x16xf32>
  return %5 : tensor<?x16xf32>
}

// CHECK-LABEL: func.func @unranked_operands
func.func @unranked_operands(%x: tensor<*xf32>, %w: tensor<4x16xf32>) -> tensor<*xf32> {
  // Before shape inference, results may be unranked.
  // CHECK: kiln.matmul %{{.*}}, %{{.*}} : (tensor<*xf32>, tensor<4x16xf32>) -> tensor<*xf32>
  %0 = kiln.matmul %x, %w : (tensor<*xf32>, tensor<4x16xf32>) -> tensor<*xf32>
  // CHECK: kiln.relu %{{.*}} : (tensor<*xf32>) -> tensor<*xf32>
  %1 = kiln.relu %0 : (tensor<*xf32>) -> tensor<*xf32>
  return %1 : tensor<*xf32>
}

// CHECK-LABEL: func.func @cnn_layers
// GENERIC-LABEL: sym_name = "cnn_layers"
func.func @cnn_layers(%x: tensor<?x28x28x1xf32>, %k: tensor<3x3x1x32xf32>) -> tensor<?x6x6x32xf32> {
  // CHECK: kiln.conv2d %{{.*}}, %{{.*}} : (tensor<?x28x28x1xf32>, tensor<3x3x1x32xf32>) -> tensor<?x26x26x32xf32>
  // GENERIC: "kiln.conv2d"(%{{.*}}, %{{.*}}) <{dilations = array<i64: 1, 1>, padding = "valid", strides = array<i64: 1, 1>}>
  %0 = kiln.conv2d %x, %k : (tensor<?x28x28x1xf32>, tensor<3x3x1x32xf32>) -> tensor<?x26x26x32xf32>
  // CHECK: kiln.conv2d %{{.*}}, %{{.*}} {padding = "same", strides = array<i64: 2, 2>} : (tensor<?x28x28x1xf32>, tensor<3x3x1x32xf32>) -> tensor<?x14x14x32xf32>
  %1 = kiln.conv2d %x, %k {strides = array<i64: 2, 2>, padding = "same"} : (tensor<?x28x28x1xf32>, tensor<3x3x1x32xf32>) -> tensor<?x14x14x32xf32>
  // CHECK: kiln.conv2d %{{.*}}, %{{.*}} {dilations = array<i64: 2, 2>} : (tensor<?x28x28x1xf32>, tensor<3x3x1x32xf32>) -> tensor<?x24x24x32xf32>
  %2 = kiln.conv2d %x, %k {dilations = array<i64: 2, 2>} : (tensor<?x28x28x1xf32>, tensor<3x3x1x32xf32>) -> tensor<?x24x24x32xf32>
  // CHECK: kiln.max_pool2d %{{.*}} {pool_size = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<?x26x26x32xf32>) -> tensor<?x13x13x32xf32>
  // GENERIC: "kiln.max_pool2d"(%{{.*}}) <{padding = "valid", pool_size = array<i64: 2, 2>, strides = array<i64: 2, 2>}>
  %3 = kiln.max_pool2d %0 {pool_size = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<?x26x26x32xf32>) -> tensor<?x13x13x32xf32>
  // CHECK: kiln.avg_pool2d %{{.*}} {padding = "same", pool_size = array<i64: 3, 3>, strides = array<i64: 2, 2>} : (tensor<?x13x13x32xf32>) -> tensor<?x7x7x32xf32>
  // GENERIC: "kiln.avg_pool2d"
  %4 = kiln.avg_pool2d %3 {pool_size = array<i64: 3, 3>, strides = array<i64: 2, 2>, padding = "same"} : (tensor<?x13x13x32xf32>) -> tensor<?x7x7x32xf32>
  // CHECK: kiln.max_pool2d
  %5 = kiln.max_pool2d %4 {pool_size = array<i64: 2, 2>, strides = array<i64: 1, 1>} : (tensor<?x7x7x32xf32>) -> tensor<?x6x6x32xf32>
  return %5 : tensor<?x6x6x32xf32>
}

// CHECK-LABEL: func.func @data_movement
// GENERIC-LABEL: sym_name = "data_movement"
func.func @data_movement(%x: tensor<?x5x5x64xf32>, %y: tensor<?x3x4xf32>, %a: tensor<?x8xf32>) -> (tensor<?x1600xf32>, tensor<?x4x3xf32>, tensor<?x16xf32>) {
  // CHECK: kiln.reshape %{{.*}} {shape = array<i64: -1>} : (tensor<?x5x5x64xf32>) -> tensor<?x1600xf32>
  // GENERIC: "kiln.reshape"(%{{.*}}) <{shape = array<i64: -1>}>
  %0 = kiln.reshape %x {shape = array<i64: -1>} : (tensor<?x5x5x64xf32>) -> tensor<?x1600xf32>
  // CHECK: kiln.transpose %{{.*}} {perm = array<i64: 0, 2, 1>} : (tensor<?x3x4xf32>) -> tensor<?x4x3xf32>
  // GENERIC: "kiln.transpose"(%{{.*}}) <{perm = array<i64: 0, 2, 1>}>
  %1 = kiln.transpose %y {perm = array<i64: 0, 2, 1>} : (tensor<?x3x4xf32>) -> tensor<?x4x3xf32>
  // CHECK: kiln.concat %{{.*}}, %{{.*}} : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x16xf32>
  // GENERIC: "kiln.concat"(%{{.*}}, %{{.*}}) <{axis = -1 : i64}>
  %2 = kiln.concat %a, %a {axis = -1 : i64} : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x16xf32>
  return %0, %1, %2 : tensor<?x1600xf32>, tensor<?x4x3xf32>, tensor<?x16xf32>
}

// CHECK-LABEL: func.func @concat_batch_axis
func.func @concat_batch_axis(%a: tensor<2x8xf32>, %b: tensor<3x8xf32>, %c: tensor<1x8xf32>) -> tensor<6x8xf32> {
  // CHECK: kiln.concat %{{.*}}, %{{.*}}, %{{.*}} {axis = 0 : i64} : (tensor<2x8xf32>, tensor<3x8xf32>, tensor<1x8xf32>) -> tensor<6x8xf32>
  %0 = kiln.concat %a, %b, %c {axis = 0 : i64} : (tensor<2x8xf32>, tensor<3x8xf32>, tensor<1x8xf32>) -> tensor<6x8xf32>
  return %0 : tensor<6x8xf32>
}

// CHECK-LABEL: func.func @normalize_and_reduce
// GENERIC-LABEL: sym_name = "normalize_and_reduce"
func.func @normalize_and_reduce(%x: tensor<?x7x7x64xf32>, %l: tensor<?x10xf32>) -> (tensor<?x10xf32>, tensor<?x64xf32>, tensor<?x1x1x64xf32>, tensor<?xf32>) {
  // CHECK: kiln.softmax %{{.*}} : (tensor<?x10xf32>) -> tensor<?x10xf32>
  // GENERIC: "kiln.softmax"(%{{.*}}) <{axis = -1 : i64}>
  %0 = kiln.softmax %l : (tensor<?x10xf32>) -> tensor<?x10xf32>
  // CHECK: kiln.reduce_mean %{{.*}} {axes = array<i64: 1, 2>} : (tensor<?x7x7x64xf32>) -> tensor<?x64xf32>
  // GENERIC: "kiln.reduce_mean"(%{{.*}}) <{axes = array<i64: 1, 2>, keepdims = false}>
  %1 = kiln.reduce_mean %x {axes = array<i64: 1, 2>} : (tensor<?x7x7x64xf32>) -> tensor<?x64xf32>
  // CHECK: kiln.reduce_max %{{.*}} {axes = array<i64: 1, 2>, keepdims = true} : (tensor<?x7x7x64xf32>) -> tensor<?x1x1x64xf32>
  // GENERIC: "kiln.reduce_max"
  %2 = kiln.reduce_max %x {axes = array<i64: 1, 2>, keepdims = true} : (tensor<?x7x7x64xf32>) -> tensor<?x1x1x64xf32>
  // CHECK: kiln.reduce_sum %{{.*}} {axes = array<i64: -1>} : (tensor<?x10xf32>) -> tensor<?xf32>
  // GENERIC: "kiln.reduce_sum"
  %3 = kiln.reduce_sum %0 {axes = array<i64: -1>} : (tensor<?x10xf32>) -> tensor<?xf32>
  return %0, %1, %2, %3 : tensor<?x10xf32>, tensor<?x64xf32>, tensor<?x1x1x64xf32>, tensor<?xf32>
}

// CHECK-LABEL: func.func @constant_and_dropout
// GENERIC-LABEL: sym_name = "constant_and_dropout"
func.func @constant_and_dropout(%x: tensor<?x4xf32>, %step: tensor<i64>) -> (tensor<?x4xf32>, tensor<?x4xf32>) {
  // CHECK: kiln.constant dense<1.000000e+00> : tensor<4xf32>
  // GENERIC: "kiln.constant"() <{value = dense<1.000000e+00> : tensor<4xf32>}> : () -> tensor<4xf32>
  %c = kiln.constant dense<1.0> : tensor<4xf32>
  // CHECK: kiln.constant dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00]> : tensor<4xf32>
  %d = kiln.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %0 = kiln.add %x, %c : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %1 = kiln.mul %0, %d : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  // CHECK: kiln.dropout %{{.*}} {rate = 5.000000e-01 : f32, seed = 7 : i64} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  // GENERIC: "kiln.dropout"(%{{.*}}) <{rate = 5.000000e-01 : f32, seed = 7 : i64, training = false}>
  %2 = kiln.dropout %1 {rate = 0.5 : f32, seed = 7 : i64} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  // CHECK: kiln.dropout %{{.*}}, %{{.*}} {rate = 2.500000e-01 : f32, training = true} : (tensor<?x4xf32>, tensor<i64>) -> tensor<?x4xf32>
  // GENERIC: "kiln.dropout"(%{{.*}}, %{{.*}}) <{rate = 2.500000e-01 : f32, seed = 0 : i64, training = true}>
  %3 = kiln.dropout %1, %step {rate = 0.25 : f32, training = true} : (tensor<?x4xf32>, tensor<i64>) -> tensor<?x4xf32>
  return %2, %3 : tensor<?x4xf32>, tensor<?x4xf32>
}

// CHECK-LABEL: func.func @random_normal
// GENERIC-LABEL: sym_name = "random_normal"
func.func @random_normal(%x: tensor<?x4xf32>, %step: tensor<i64>) -> tensor<?x4xf32> {
  // CHECK: kiln.random_normal %{{.*}}, %{{.*}} {seed = 7 : i64} : (tensor<?x4xf32>, tensor<i64>) -> tensor<?x4xf32>
  // GENERIC: "kiln.random_normal"(%{{.*}}, %{{.*}}) <{seed = 7 : i64}>
  %0 = kiln.random_normal %x, %step {seed = 7 : i64} : (tensor<?x4xf32>, tensor<i64>) -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// CHECK-LABEL: func.func @pad
// GENERIC-LABEL: sym_name = "pad"
func.func @pad(%x: tensor<?x4x4x3xf32>) -> tensor<?x6x6x3xf32> {
  // CHECK: kiln.pad %{{.*}} {high = array<i64: 0, 1, 0, 0>, low = array<i64: 0, 1, 2, 0>} : (tensor<?x4x4x3xf32>) -> tensor<?x6x6x3xf32>
  // GENERIC: "kiln.pad"(%{{.*}}) <{high = array<i64: 0, 1, 0, 0>, low = array<i64: 0, 1, 2, 0>}>
  %0 = kiln.pad %x {low = array<i64: 0, 1, 2, 0>, high = array<i64: 0, 1, 0, 0>} : (tensor<?x4x4x3xf32>) -> tensor<?x6x6x3xf32>
  return %0 : tensor<?x6x6x3xf32>
}

// CHECK-LABEL: func.func @gather
// GENERIC-LABEL: sym_name = "gather"
func.func @gather(%t: tensor<1000x16xf32>, %ids: tensor<?x10xf32>, %iids: tensor<?xi32>)
    -> (tensor<?x10x16xf32>, tensor<?x16xf32>) {
  // CHECK: kiln.gather %{{.*}}, %{{.*}} : (tensor<1000x16xf32>, tensor<?x10xf32>) -> tensor<?x10x16xf32>
  // GENERIC: "kiln.gather"(%{{.*}}, %{{.*}}) : (tensor<1000x16xf32>, tensor<?x10xf32>) -> tensor<?x10x16xf32>
  %0 = kiln.gather %t, %ids : (tensor<1000x16xf32>, tensor<?x10xf32>) -> tensor<?x10x16xf32>
  // CHECK: kiln.gather %{{.*}}, %{{.*}} : (tensor<1000x16xf32>, tensor<?xi32>) -> tensor<?x16xf32>
  %1 = kiln.gather %t, %iids : (tensor<1000x16xf32>, tensor<?xi32>) -> tensor<?x16xf32>
  return %0, %1 : tensor<?x10x16xf32>, tensor<?x16xf32>
}
