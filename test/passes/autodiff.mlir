// RUN: kiln-opt %s --split-input-file --kiln-autodiff --verify-diagnostics | FileCheck %s

// A Dense layer with relu and a mean squared error: the kernel's gradient is x^T @ dz, the
// bias's the batch sum of dz; nothing is computed for the input x.
// CHECK-LABEL: func.func @dense_mse
// CHECK-NOT: kiln.grad
// CHECK: %[[ONE:.*]] = kiln.constant dense<1.000000e+00> : tensor<f32>
// CHECK: kiln.unary_grad %{{.*}}, %{{.*}} {kind = "square"}
// CHECK: %[[DZ:.*]] = kiln.unary_grad %[[Z:.*]], %{{.*}} {kind = "relu"}
// CHECK: %[[DB:.*]] = kiln.reduce_sum %[[DZ]] {axes = array<i64: 0>} : (tensor<?x2xf32>) -> tensor<2xf32>
// CHECK: %[[XT:.*]] = kiln.transpose %arg0 {perm = array<i64: 1, 0>} : (tensor<?x4xf32>) -> tensor<4x?xf32>
// CHECK: %[[DW:.*]] = kiln.matmul %[[XT]], %[[DZ]] : (tensor<4x?xf32>, tensor<?x2xf32>) -> tensor<4x2xf32>
// CHECK: return %{{.*}}, %[[DW]], %[[DB]]
func.func @dense_mse(%x: tensor<?x4xf32>, %y: tensor<?x2xf32>, %w: tensor<4x2xf32>, %b: tensor<2xf32>) -> (tensor<f32>, tensor<4x2xf32>, tensor<2xf32>) {
  %0 = kiln.matmul %x, %w : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
  %1 = kiln.add %0, %b : (tensor<?x2xf32>, tensor<2xf32>) -> tensor<?x2xf32>
  %2 = kiln.relu %1 : (tensor<?x2xf32>) -> tensor<?x2xf32>
  %3 = kiln.sub %2, %y : (tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<?x2xf32>
  %4 = kiln.square %3 : (tensor<?x2xf32>) -> tensor<?x2xf32>
  %5 = kiln.reduce_mean %4 {axes = array<i64: 0, 1>} : (tensor<?x2xf32>) -> tensor<f32>
  %g:2 = kiln.grad %5 wrt %w, %b : (tensor<f32>, tensor<4x2xf32>, tensor<2xf32>) -> (tensor<4x2xf32>, tensor<2xf32>)
  return %5, %g#0, %g#1 : tensor<f32>, tensor<4x2xf32>, tensor<2xf32>
}

// -----

// Conv, pool, flatten, softmax: each has its backward op; the first conv's input gets none.
// CHECK-LABEL: func.func @cnn
// CHECK: kiln.reshape %{{.*}} {shape = array<i64: 13, 13, 2>} : (tensor<?x338xf32>) -> tensor<?x13x13x2xf32>
// CHECK: kiln.pool2d_grad %{{.*}}, %{{.*}} {kind = "max", pool_size = array<i64: 2, 2>, strides = array<i64: 2, 2>}
// CHECK: kiln.unary_grad %{{.*}}, %{{.*}} {kind = "relu"}
// CHECK: kiln.conv2d_grad_kernel %arg0, %{{.*}} : (tensor<?x28x28x1xf32>, tensor<?x26x26x2xf32>) -> tensor<3x3x1x2xf32>
// CHECK-NOT: kiln.conv2d_grad_input
func.func @cnn(%x: tensor<?x28x28x1xf32>, %k: tensor<3x3x1x2xf32>, %w: tensor<338x3xf32>) -> (tensor<3x3x1x2xf32>, tensor<338x3xf32>) {
  %0 = kiln.conv2d %x, %k : (tensor<?x28x28x1xf32>, tensor<3x3x1x2xf32>) -> tensor<?x26x26x2xf32>
  %1 = kiln.relu %0 : (tensor<?x26x26x2xf32>) -> tensor<?x26x26x2xf32>
  %2 = kiln.max_pool2d %1 {pool_size = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<?x26x26x2xf32>) -> tensor<?x13x13x2xf32>
  %3 = kiln.reshape %2 {shape = array<i64: -1>} : (tensor<?x13x13x2xf32>) -> tensor<?x338xf32>
  %4 = kiln.matmul %3, %w : (tensor<?x338xf32>, tensor<338x3xf32>) -> tensor<?x3xf32>
  %5 = kiln.softmax %4 {axis = -1 : i64} : (tensor<?x3xf32>) -> tensor<?x3xf32>
  %6 = kiln.log %5 : (tensor<?x3xf32>) -> tensor<?x3xf32>
  %7 = kiln.reduce_sum %6 {axes = array<i64: 0, 1>} : (tensor<?x3xf32>) -> tensor<f32>
  %g:2 = kiln.grad %7 wrt %k, %w : (tensor<f32>, tensor<3x3x1x2xf32>, tensor<338x3xf32>) -> (tensor<3x3x1x2xf32>, tensor<338x3xf32>)
  return %g#0, %g#1 : tensor<3x3x1x2xf32>, tensor<338x3xf32>
}

// -----

// A value the loss does not depend on gets a zero gradient; a shared value accumulates.
// CHECK-LABEL: func.func @unused_and_shared
// CHECK: %[[ONE:.*]] = kiln.broadcast_like
// CHECK: %[[A:.*]] = kiln.mul %[[ONE]], %arg0
// CHECK: %[[B:.*]] = kiln.mul %[[ONE]], %arg0
// CHECK: kiln.add %[[A]], %[[B]]
// CHECK: %[[Z:.*]] = kiln.constant dense<0.000000e+00> : tensor<f32>
// CHECK: kiln.broadcast_like %[[Z]], %arg1 : (tensor<f32>, tensor<3xf32>) -> tensor<3xf32>
func.func @unused_and_shared(%a: tensor<3xf32>, %u: tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>) {
  %0 = kiln.mul %a, %a : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  %1 = kiln.reduce_sum %0 {axes = array<i64: 0>} : (tensor<3xf32>) -> tensor<f32>
  %g:2 = kiln.grad %1 wrt %a, %u : (tensor<f32>, tensor<3xf32>, tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>)
  return %g#0, %g#1 : tensor<3xf32>, tensor<3xf32>
}

// -----

// Training dropout: the backward pass drops dy with the same seed and step, so the same
// elements, scaled alike.
// CHECK-LABEL: func.func @dropout_train
// CHECK: kiln.dropout %{{.*}}, %arg2 {rate = 5.000000e-01 : f32, seed = 3 : i64, training = true} : (tensor<?x4xf32>, tensor<i64>) -> tensor<?x4xf32>
func.func @dropout_train(%x: tensor<?x4xf32>, %w: tensor<4x1xf32>, %step: tensor<i64>) -> tensor<4x1xf32> {
  %0 = kiln.dropout %x, %step {rate = 0.5 : f32, seed = 3 : i64, training = true} : (tensor<?x4xf32>, tensor<i64>) -> tensor<?x4xf32>
  %1 = kiln.matmul %0, %w : (tensor<?x4xf32>, tensor<4x1xf32>) -> tensor<?x1xf32>
  %2 = kiln.reduce_sum %1 {axes = array<i64: 0, 1>} : (tensor<?x1xf32>) -> tensor<f32>
  %g = kiln.grad %2 wrt %w : (tensor<f32>, tensor<4x1xf32>) -> tensor<4x1xf32>
  return %g : tensor<4x1xf32>
}

// -----

// GaussianNoise: no gradient flows into the noise; x's gradient is dy.
// CHECK-LABEL: func.func @random_normal_no_gradient
// CHECK: kiln.random_normal
// CHECK: kiln.broadcast_like
// CHECK-NOT: kiln.random_normal
// CHECK: return
func.func @random_normal_no_gradient(%x: tensor<?x4xf32>, %step: tensor<i64>) -> tensor<?x4xf32> {
  %n = kiln.random_normal %x, %step {seed = 4 : i64} : (tensor<?x4xf32>, tensor<i64>) -> tensor<?x4xf32>
  %0 = kiln.add %x, %n : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %1 = kiln.reduce_sum %0 {axes = array<i64: 0, 1>} : (tensor<?x4xf32>) -> tensor<f32>
  %g = kiln.grad %1 wrt %x : (tensor<f32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return %g : tensor<?x4xf32>
}

// -----

// A slice of the dynamic batch: its gradient would pad to a size the IR does not know.
func.func @no_rule(%a: tensor<?x4xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{'kiln.slice' op has no gradient rule for this form (kiln-autodiff)}}
  %0 = kiln.slice %a {axis = 0 : i64, start = 0 : i64, size = 2 : i64} : (tensor<?x4xf32>) -> tensor<2x4xf32>
  %1 = kiln.reduce_sum %0 {axes = array<i64: 0, 1>} : (tensor<2x4xf32>) -> tensor<f32>
  %g = kiln.grad %1 wrt %a : (tensor<f32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return %g : tensor<?x4xf32>
}

// -----

// ZeroPadding2D and Cropping2D: the gradient of a pad slices the input's cells back out, one
// padded axis at a time; the gradient of a slice pads it back with zeros.
// CHECK-LABEL: func.func @pad_and_slice
// CHECK: %[[P:.*]] = kiln.pad %{{.*}} {high = array<i64: 0, 0, 2, 0>, low = array<i64: 0, 0, 1, 0>} : (tensor<?x4x4x3xf32>) -> tensor<?x4x7x3xf32>
// CHECK: %[[S1:.*]] = kiln.slice %[[P]] {axis = 1 : i64, size = 2 : i64, start = 1 : i64} : (tensor<?x4x7x3xf32>) -> tensor<?x2x7x3xf32>
// CHECK: %[[S2:.*]] = kiln.slice %[[S1]] {axis = 2 : i64, size = 5 : i64, start = 2 : i64} : (tensor<?x2x7x3xf32>) -> tensor<?x2x5x3xf32>
// CHECK: return %[[S2]]
func.func @pad_and_slice(%x: tensor<?x2x5x3xf32>) -> tensor<?x2x5x3xf32> {
  %0 = kiln.pad %x {low = array<i64: 0, 1, 2, 0>, high = array<i64: 0, 1, 0, 0>} : (tensor<?x2x5x3xf32>) -> tensor<?x4x7x3xf32>
  %1 = kiln.slice %0 {axis = 2 : i64, start = 1 : i64, size = 4 : i64} : (tensor<?x4x7x3xf32>) -> tensor<?x4x4x3xf32>
  %2 = kiln.reduce_sum %1 {axes = array<i64: 0, 1, 2, 3>} : (tensor<?x4x4x3xf32>) -> tensor<f32>
  %g = kiln.grad %2 wrt %x : (tensor<f32>, tensor<?x2x5x3xf32>) -> tensor<?x2x5x3xf32>
  return %g : tensor<?x2x5x3xf32>
}

// -----

// kiln.conv2d_grad_input as a forward op (Keras' Conv2DTranspose): its input's gradient is the
// conv of dy with the same kernel and attributes, its kernel's the conv's kernel gradient with
// dy in the input's place.
// CHECK-LABEL: func.func @transposed_conv
// CHECK: kiln.conv2d %{{.*}}, %arg1 {padding = "same", strides = array<i64: 2, 2>} : (tensor<?x10x10x4xf32>, tensor<3x3x4x3xf32>) -> tensor<?x5x5x3xf32>
// CHECK: kiln.conv2d_grad_kernel %{{.*}}, %arg0 {padding = "same", strides = array<i64: 2, 2>} : (tensor<?x10x10x4xf32>, tensor<?x5x5x3xf32>) -> tensor<3x3x4x3xf32>
func.func @transposed_conv(%x: tensor<?x5x5x3xf32>, %k: tensor<3x3x4x3xf32>) -> (tensor<?x5x5x3xf32>, tensor<3x3x4x3xf32>) {
  %0 = kiln.conv2d_grad_input %x, %k {strides = array<i64: 2, 2>, padding = "same"} : (tensor<?x5x5x3xf32>, tensor<3x3x4x3xf32>) -> tensor<?x10x10x4xf32>
  %1 = kiln.square %0 : (tensor<?x10x10x4xf32>) -> tensor<?x10x10x4xf32>
  %2 = kiln.reduce_sum %1 {axes = array<i64: 0, 1, 2, 3>} : (tensor<?x10x10x4xf32>) -> tensor<f32>
  %g:2 = kiln.grad %2 wrt %x, %k : (tensor<f32>, tensor<?x5x5x3xf32>, tensor<3x3x4x3xf32>) -> (tensor<?x5x5x3xf32>, tensor<3x3x4x3xf32>)
  return %g#0, %g#1 : tensor<?x5x5x3xf32>, tensor<3x3x4x3xf32>
}

// -----

// Embedding: the table's gradient scatters dy's rows back to the rows the indices read; the
// indices get none.
// CHECK-LABEL: func.func @embedding
// CHECK-NOT: kiln.grad
// CHECK: %[[DT:.*]] = kiln.scatter_add %arg0, %{{.*}} : (tensor<?x3xf32>, tensor<?x3x4xf32>) -> tensor<10x4xf32>
// CHECK: return %{{.*}}, %[[DT]]
func.func @embedding(%ids: tensor<?x3xf32>, %t: tensor<10x4xf32>) -> (tensor<f32>, tensor<10x4xf32>) {
  %0 = kiln.gather %t, %ids : (tensor<10x4xf32>, tensor<?x3xf32>) -> tensor<?x3x4xf32>
  %1 = kiln.square %0 : (tensor<?x3x4xf32>) -> tensor<?x3x4xf32>
  %2 = kiln.reduce_sum %1 {axes = array<i64: 0, 1, 2>} : (tensor<?x3x4xf32>) -> tensor<f32>
  %dt = kiln.grad %2 wrt %t : (tensor<f32>, tensor<10x4xf32>) -> tensor<10x4xf32>
  return %2, %dt : tensor<f32>, tensor<10x4xf32>
}

// -----

// A Dense layer on sequences: the kernel's gradient sums over the batch and the steps in one
// kiln.matmul_grad_kernel.
// CHECK-LABEL: func.func @dense_on_sequences
// CHECK-NOT: kiln.grad
// CHECK: %[[DW:.*]] = kiln.matmul_grad_kernel %arg0, %{{.*}} : (tensor<?x5x4xf32>, tensor<?x5x3xf32>) -> tensor<4x3xf32>
// CHECK: return %{{.*}}, %[[DW]]
func.func @dense_on_sequences(%x: tensor<?x5x4xf32>, %w: tensor<4x3xf32>) -> (tensor<f32>, tensor<4x3xf32>) {
  %0 = kiln.matmul %x, %w : (tensor<?x5x4xf32>, tensor<4x3xf32>) -> tensor<?x5x3xf32>
  %1 = kiln.square %0 : (tensor<?x5x3xf32>) -> tensor<?x5x3xf32>
  %2 = kiln.reduce_sum %1 {axes = array<i64: 0, 1, 2>} : (tensor<?x5x3xf32>) -> tensor<f32>
  %dw = kiln.grad %2 wrt %w : (tensor<f32>, tensor<4x3xf32>) -> tensor<4x3xf32>
  return %2, %dw : tensor<f32>, tensor<4x3xf32>
}
