// RUN: kiln-opt %s --kiln-shape-inference --split-input-file -verify-diagnostics | FileCheck %s

// The seed CNN as the frontend emits it before shapes are known: every result is unranked,
// the inputs and weights are typed. Shape inference makes every result ranked, with `?` only
// for the batch, and rewrites the function's result type.

// CHECK-LABEL: func.func @cnn
// CHECK-SAME: -> tensor<?x10xf32>
func.func @cnn(%x: tensor<?x28x28x1xf32>,
               %k1: tensor<3x3x1x32xf32>, %b1: tensor<32xf32>,
               %k2: tensor<3x3x32x64xf32>, %b2: tensor<64xf32>,
               %w3: tensor<1600x128xf32>, %b3: tensor<128xf32>,
               %w4: tensor<128x10xf32>, %b4: tensor<10xf32>) -> tensor<*xf32> {
  // CHECK: kiln.conv2d {{.*}} -> tensor<?x26x26x32xf32>
  %0 = kiln.conv2d %x, %k1 : (tensor<?x28x28x1xf32>, tensor<3x3x1x32xf32>) -> tensor<*xf32> loc("conv2d")
  // CHECK-NEXT: kiln.add {{.*}} : (tensor<?x26x26x32xf32>, tensor<32xf32>) -> tensor<?x26x26x32xf32>
  %1 = kiln.add %0, %b1 : (tensor<*xf32>, tensor<32xf32>) -> tensor<*xf32> loc("conv2d")
  // CHECK-NEXT: kiln.relu {{.*}} : (tensor<?x26x26x32xf32>) -> tensor<?x26x26x32xf32>
  %2 = kiln.relu %1 : (tensor<*xf32>) -> tensor<*xf32> loc("conv2d")
  // CHECK-NEXT: kiln.max_pool2d {{.*}} -> tensor<?x13x13x32xf32>
  %3 = kiln.max_pool2d %2 {pool_size = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<*xf32>) -> tensor<*xf32> loc("max_pooling2d")
  // CHECK-NEXT: kiln.conv2d {{.*}} -> tensor<?x11x11x64xf32>
  %4 = kiln.conv2d %3, %k2 : (tensor<*xf32>, tensor<3x3x32x64xf32>) -> tensor<*xf32> loc("conv2d_1")
  // CHECK-NEXT: kiln.add {{.*}} -> tensor<?x11x11x64xf32>
  %5 = kiln.add %4, %b2 : (tensor<*xf32>, tensor<64xf32>) -> tensor<*xf32> loc("conv2d_1")
  // CHECK-NEXT: kiln.relu {{.*}} -> tensor<?x11x11x64xf32>
  %6 = kiln.relu %5 : (tensor<*xf32>) -> tensor<*xf32> loc("conv2d_1")
  // CHECK-NEXT: kiln.max_pool2d {{.*}} -> tensor<?x5x5x64xf32>
  %7 = kiln.max_pool2d %6 {pool_size = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<*xf32>) -> tensor<*xf32> loc("max_pooling2d_1")
  // CHECK-NEXT: kiln.reshape {{.*}} : (tensor<?x5x5x64xf32>) -> tensor<?x1600xf32>
  %8 = kiln.reshape %7 {shape = array<i64: -1>} : (tensor<*xf32>) -> tensor<*xf32> loc("flatten")
  // CHECK-NEXT: kiln.matmul {{.*}} : (tensor<?x1600xf32>, tensor<1600x128xf32>) -> tensor<?x128xf32>
  %9 = kiln.matmul %8, %w3 : (tensor<*xf32>, tensor<1600x128xf32>) -> tensor<*xf32> loc("dense")
  // CHECK-NEXT: kiln.add {{.*}} -> tensor<?x128xf32>
  %10 = kiln.add %9, %b3 : (tensor<*xf32>, tensor<128xf32>) -> tensor<*xf32> loc("dense")
  // CHECK-NEXT: kiln.relu {{.*}} -> tensor<?x128xf32>
  %11 = kiln.relu %10 : (tensor<*xf32>) -> tensor<*xf32> loc("dense")
  // CHECK-NEXT: kiln.dropout {{.*}} -> tensor<?x128xf32>
  %12 = kiln.dropout %11 {rate = 0.5 : f32} : (tensor<*xf32>) -> tensor<*xf32> loc("dropout")
  // CHECK-NEXT: kiln.matmul {{.*}} -> tensor<?x10xf32>
  %13 = kiln.matmul %12, %w4 : (tensor<*xf32>, tensor<128x10xf32>) -> tensor<*xf32> loc("dense_1")
  // CHECK-NEXT: kiln.add {{.*}} -> tensor<?x10xf32>
  %14 = kiln.add %13, %b4 : (tensor<*xf32>, tensor<10xf32>) -> tensor<*xf32> loc("dense_1")
  // CHECK-NEXT: kiln.softmax {{.*}} : (tensor<?x10xf32>) -> tensor<?x10xf32>
  %15 = kiln.softmax %14 : (tensor<*xf32>) -> tensor<*xf32> loc("dense_1")
  // CHECK-NEXT: return {{.*}} : tensor<?x10xf32>
  return %15 : tensor<*xf32>
}

// -----

// An MLP with two outputs; partially known result types (`?x?`) are refined too.

// CHECK-LABEL: func.func @mlp
// CHECK-SAME: -> (tensor<?x10xf32>, tensor<?x64xf32>)
func.func @mlp(%x: tensor<?x28x28xf32>, %w1: tensor<784x64xf32>, %b1: tensor<64xf32>,
               %w2: tensor<64x10xf32>, %b2: tensor<10xf32>) -> (tensor<*xf32>, tensor<?x?xf32>) {
  // CHECK: kiln.reshape {{.*}} -> tensor<?x784xf32>
  %0 = kiln.reshape %x {shape = array<i64: 784>} : (tensor<?x28x28xf32>) -> tensor<*xf32>
  // CHECK-NEXT: kiln.matmul {{.*}} -> tensor<?x64xf32>
  %1 = kiln.matmul %0, %w1 : (tensor<*xf32>, tensor<784x64xf32>) -> tensor<*xf32>
  // CHECK-NEXT: kiln.add {{.*}} -> tensor<?x64xf32>
  %2 = kiln.add %1, %b1 : (tensor<*xf32>, tensor<64xf32>) -> tensor<*xf32>
  // CHECK-NEXT: kiln.hard_sigmoid {{.*}} -> tensor<?x64xf32>
  %3 = kiln.hard_sigmoid %2 : (tensor<*xf32>) -> tensor<?x?xf32>
  // CHECK-NEXT: kiln.matmul {{.*}} -> tensor<?x10xf32>
  %4 = kiln.matmul %3, %w2 : (tensor<?x?xf32>, tensor<64x10xf32>) -> tensor<*xf32>
  // CHECK-NEXT: kiln.add {{.*}} -> tensor<?x10xf32>
  %5 = kiln.add %4, %b2 : (tensor<*xf32>, tensor<10xf32>) -> tensor<*xf32>
  // CHECK-NEXT: kiln.softmax {{.*}} -> tensor<?x10xf32>
  %6 = kiln.softmax %5 : (tensor<*xf32>) -> tensor<*xf32>
  // CHECK-NEXT: return {{.*}} : tensor<?x10xf32>, tensor<?x64xf32>
  return %6, %3 : tensor<*xf32>, tensor<?x?xf32>
}

// -----

// Every other layer: concat, transpose, reductions, same padding, strides.

// CHECK-LABEL: func.func @other_layers
// CHECK-SAME: -> (tensor<?x8xf32>, tensor<?x32xf32>)
func.func @other_layers(%x: tensor<?x32x32x3xf32>, %k: tensor<5x5x3x8xf32>, %s: tensor<?x4x6xf32>) -> (tensor<*xf32>, tensor<*xf32>) {
  // CHECK: kiln.conv2d {{.*}} -> tensor<?x16x16x8xf32>
  %0 = kiln.conv2d %x, %k {strides = array<i64: 2, 2>, padding = "same"} : (tensor<?x32x32x3xf32>, tensor<5x5x3x8xf32>) -> tensor<*xf32>
  // CHECK-NEXT: kiln.avg_pool2d {{.*}} -> tensor<?x6x6x8xf32>
  %1 = kiln.avg_pool2d %0 {pool_size = array<i64: 3, 3>, strides = array<i64: 3, 3>, padding = "same"} : (tensor<*xf32>) -> tensor<*xf32>
  // CHECK-NEXT: kiln.reduce_max {{.*}} -> tensor<?x1x1x8xf32>
  %2 = kiln.reduce_max %1 {axes = array<i64: 1, 2>, keepdims = true} : (tensor<*xf32>) -> tensor<*xf32>
  // CHECK-NEXT: kiln.reduce_mean {{.*}} -> tensor<?x8xf32>
  %3 = kiln.reduce_mean %2 {axes = array<i64: 1, 2>} : (tensor<*xf32>) -> tensor<*xf32>
  // CHECK-NEXT: kiln.transpose {{.*}} -> tensor<?x6x4xf32>
  %4 = kiln.transpose %s {perm = array<i64: 0, 2, 1>} : (tensor<?x4x6xf32>) -> tensor<*xf32>
  // CHECK-NEXT: kiln.reshape {{.*}} -> tensor<?x24xf32>
  %5 = kiln.reshape %4 {shape = array<i64: -1>} : (tensor<*xf32>) -> tensor<*xf32>
  // CHECK-NEXT: kiln.concat {{.*}} -> tensor<?x32xf32>
  %6 = kiln.concat %5, %3 : (tensor<*xf32>, tensor<*xf32>) -> tensor<*xf32>
  return %3, %6 : tensor<*xf32>, tensor<*xf32>
}

// -----

// Declared types that are already as static as the inferred ones stay, and a batch
// specialised by the caller (32) is kept.

// CHECK-LABEL: func.func @keeps_specialised_batch
// CHECK-SAME: -> tensor<32x10xf32>
func.func @keeps_specialised_batch(%x: tensor<32x4xf32>, %w: tensor<4x10xf32>) -> tensor<32x10xf32> {
  // CHECK: kiln.matmul {{.*}} -> tensor<32x10xf32>
  %0 = kiln.matmul %x, %w : (tensor<32x4xf32>, tensor<4x10xf32>) -> tensor<32x10xf32>
  return %0 : tensor<32x10xf32>
}

// -----

// A mismatch that only shows once shapes are known is reported at the layer's NameLoc, and the
// message names the layer. (The relu's result type hides the 784 from the verifier.)
func.func @wrong_kernel(%x: tensor<?x784xf32>, %w: tensor<100x10xf32>) -> tensor<*xf32> {
  %0 = kiln.relu %x : (tensor<?x784xf32>) -> tensor<*xf32> loc("activation")
  // expected-error @unknown {{'kiln.matmul' op layer 'dense_1': input shape (None, 784) does not match kernel shape (100, 10): last axis 784 vs 100}}
  %1 = kiln.matmul %0, %w : (tensor<*xf32>, tensor<100x10xf32>) -> tensor<*xf32> loc("dense_1")
  return %1 : tensor<*xf32>
}

// -----

// A declared result type that contradicts the inferred one.
func.func @contradicting_declared_type(%x: tensor<?x784xf32>, %w: tensor<784x10xf32>) -> tensor<?x12xf32> {
  %0 = kiln.relu %x : (tensor<?x784xf32>) -> tensor<*xf32>
  // expected-error @below {{'kiln.matmul' op declared result type 'tensor<?x12xf32>' is incompatible with the inferred type 'tensor<?x10xf32>'}}
  %1 = kiln.matmul %0, %w : (tensor<*xf32>, tensor<784x10xf32>) -> tensor<?x12xf32>
  return %1 : tensor<?x12xf32>
}
