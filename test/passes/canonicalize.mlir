// RUN: kiln-opt %s --canonicalize --split-input-file | FileCheck %s

// Dropout is the identity at inference (every @predict has training = false).

// CHECK-LABEL: func.func @dropout_inference
// CHECK-SAME: (%[[X:.*]]: tensor<?x128xf32>)
// CHECK-NOT: kiln.dropout
// CHECK: return %[[X]]
func.func @dropout_inference(%x: tensor<?x128xf32>) -> tensor<?x128xf32> {
  %0 = kiln.dropout %x {rate = 0.5 : f32, seed = 7 : i64} : (tensor<?x128xf32>) -> tensor<?x128xf32>
  return %0 : tensor<?x128xf32>
}

// -----

// A rate of 0 keeps every element, in training too.

// CHECK-LABEL: func.func @dropout_rate_zero
// CHECK-SAME: (%[[X:.*]]: tensor<?x128xf32>,
// CHECK-NOT: kiln.dropout
// CHECK: return %[[X]]
func.func @dropout_rate_zero(%x: tensor<?x128xf32>, %step: tensor<i64>) -> tensor<?x128xf32> {
  %0 = kiln.dropout %x, %step {rate = 0.0 : f32, training = true} : (tensor<?x128xf32>, tensor<i64>) -> tensor<?x128xf32>
  return %0 : tensor<?x128xf32>
}

// -----

// In training, dropout stays.

// CHECK-LABEL: func.func @dropout_training
// CHECK: %[[Y:.*]] = kiln.dropout %{{.*}}, %{{.*}} {rate = 5.000000e-01 : f32, seed = 7 : i64, training = true}
// CHECK: return %[[Y]]
func.func @dropout_training(%x: tensor<?x128xf32>, %step: tensor<i64>) -> tensor<?x128xf32> {
  %0 = kiln.dropout %x, %step {rate = 0.5 : f32, seed = 7 : i64, training = true} : (tensor<?x128xf32>, tensor<i64>) -> tensor<?x128xf32>
  return %0 : tensor<?x128xf32>
}

// -----

// The op after an inference dropout reads the dropout's input.

// CHECK-LABEL: func.func @dropout_between_layers
// CHECK-SAME: (%[[X:.*]]: tensor<?x128xf32>, %[[W:.*]]: tensor<128x10xf32>)
// CHECK-NEXT: %[[Y:.*]] = kiln.matmul %[[X]], %[[W]]
// CHECK-NEXT: return %[[Y]]
func.func @dropout_between_layers(%x: tensor<?x128xf32>, %w: tensor<128x10xf32>) -> tensor<?x10xf32> {
  %0 = kiln.dropout %x {rate = 0.2 : f32} : (tensor<?x128xf32>) -> tensor<?x128xf32>
  %1 = kiln.matmul %0, %w : (tensor<?x128xf32>, tensor<128x10xf32>) -> tensor<?x10xf32>
  return %1 : tensor<?x10xf32>
}

// -----

// Unused kiln ops are pure and go away; identical constants are merged.

// CHECK-LABEL: func.func @pure_ops
// CHECK-NEXT: %[[C:.*]] = kiln.constant dense<1.000000e+00> : tensor<4xf32>
// CHECK-NEXT: return %[[C]], %[[C]]
func.func @pure_ops(%x: tensor<?x4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %0 = kiln.relu %x : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %a = kiln.constant dense<1.0> : tensor<4xf32>
  %b = kiln.constant dense<1.0> : tensor<4xf32>
  return %a, %b : tensor<4xf32>, tensor<4xf32>
}
