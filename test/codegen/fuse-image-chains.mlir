// RUN: kiln-opt %s --kiln-to-linalg --linalg-fuse-elementwise-ops --kiln-fuse-image-chains --canonicalize | FileCheck %s

// conv -> bias + relu -> max pool runs one image at a time: one scf.for over the dynamic
// batch, one-image intermediates, the pooled image inserted into the batch result.

// CHECK-LABEL: func.func @chain
func.func @chain(%x: tensor<?x28x28x1xf32>, %k: tensor<3x3x1x32xf32>, %b: tensor<32xf32>) -> tensor<?x13x13x32xf32> {
  // CHECK: %[[N:.*]] = tensor.dim %{{.*}}, %c0 : tensor<?x28x28x1xf32>
  // CHECK: scf.for %[[I:.*]] = %c0 to %[[N]] step %c1 iter_args
  // CHECK: tensor.extract_slice %{{.*}}[%[[I]], 0, 0, 0] [1, 28, 28, 1]
  // CHECK: tensor.empty() : tensor<1x26x26x32xf32>
  // CHECK: linalg.conv_2d_nhwc_hwcf {{.*}} -> tensor<1x26x26x32xf32>
  // CHECK: linalg.generic
  // CHECK: } -> tensor<1x26x26x32xf32>
  // CHECK: linalg.pooling_nhwc_max {{.*}} -> tensor<1x13x13x32xf32>
  // CHECK: tensor.insert_slice {{.*}} into %{{.*}}[%[[I]], 0, 0, 0] [1, 13, 13, 32]
  // CHECK-NOT: tensor<?x26x26x32xf32>
  %0 = kiln.conv2d %x, %k : (tensor<?x28x28x1xf32>, tensor<3x3x1x32xf32>) -> tensor<?x26x26x32xf32>
  %1 = kiln.add %0, %b : (tensor<?x26x26x32xf32>, tensor<32xf32>) -> tensor<?x26x26x32xf32>
  %2 = kiln.relu %1 : (tensor<?x26x26x32xf32>) -> tensor<?x26x26x32xf32>
  %3 = kiln.max_pool2d %2 {pool_size = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<?x26x26x32xf32>) -> tensor<?x13x13x32xf32>
  return %3 : tensor<?x13x13x32xf32>
}

// A convolution whose result has two users is left alone.

// CHECK-LABEL: func.func @shared
func.func @shared(%x: tensor<?x8x8x2xf32>, %k: tensor<3x3x2x4xf32>) -> (tensor<?x6x6x4xf32>, tensor<?x6x6x4xf32>) {
  // CHECK-NOT: scf.for
  // CHECK: linalg.conv_2d_nhwc_hwcf {{.*}} -> tensor<?x6x6x4xf32>
  %0 = kiln.conv2d %x, %k : (tensor<?x8x8x2xf32>, tensor<3x3x2x4xf32>) -> tensor<?x6x6x4xf32>
  %1 = kiln.relu %0 : (tensor<?x6x6x4xf32>) -> tensor<?x6x6x4xf32>
  return %0, %1 : tensor<?x6x6x4xf32>, tensor<?x6x6x4xf32>
}

// A transposed convolution (kiln.conv2d_grad_input, Keras' Conv2DTranspose) with a bias: the
// flipped kernel does not depend on the image and reads the kernel through a reversing map,
// so it stays outside the loop (tiling it with the conv gave wrong slice sizes).

// CHECK-LABEL: func.func @transposed
func.func @transposed(%x: tensor<?x4x5x2xf32>, %k: tensor<3x3x3x2xf32>, %b: tensor<3xf32>) -> tensor<?x9x11x3xf32> {
  // CHECK: %[[FLIP:.*]] = linalg.generic {{.*}} ins(%{{.*}} : tensor<3x3x3x2xf32>) outs(%{{.*}} : tensor<3x3x2x3xf32>)
  // CHECK: scf.for
  // CHECK: linalg.conv_2d_nhwc_hwcf {{.*}}, %[[FLIP]] : tensor<1x11x13x2xf32>, tensor<3x3x2x3xf32>) {{.*}} -> tensor<1x9x11x3xf32>
  %0 = kiln.conv2d_grad_input %x, %k {strides = array<i64: 2, 2>} : (tensor<?x4x5x2xf32>, tensor<3x3x3x2xf32>) -> tensor<?x9x11x3xf32>
  %1 = kiln.add %0, %b : (tensor<?x9x11x3xf32>, tensor<3xf32>) -> tensor<?x9x11x3xf32>
  return %1 : tensor<?x9x11x3xf32>
}

// An elementwise op of the chain that reads a statistic over the whole batch (BatchNormalization
// in training: the mean of another batch tensor) keeps that reduction outside the loop; fused,
// it was recomputed whole for every image (a train step quadratic in the batch).

// CHECK-LABEL: func.func @batch_statistic
func.func @batch_statistic(%x: tensor<?x8x8x2xf32>, %k: tensor<3x3x2x4xf32>, %y: tensor<?x6x6x4xf32>) -> tensor<?x6x6x4xf32> {
  // CHECK: %[[MEAN:.*]] = linalg.generic {{.*}}iterator_types = ["reduction", "reduction", "reduction", "parallel"]
  // CHECK: scf.for
  // CHECK-NOT: "reduction", "reduction", "reduction", "parallel"
  // CHECK: linalg.conv_2d_nhwc_hwcf {{.*}} -> tensor<1x6x6x4xf32>
  // CHECK: linalg.generic {{.*}} ins(%{{.*}}, %{{.*}} : tensor<1x6x6x4xf32>, tensor<4xf32>)
  // CHECK: scf.yield
  %m = kiln.reduce_mean %y {axes = array<i64: 0, 1, 2>} : (tensor<?x6x6x4xf32>) -> tensor<4xf32>
  %0 = kiln.conv2d %x, %k : (tensor<?x8x8x2xf32>, tensor<3x3x2x4xf32>) -> tensor<?x6x6x4xf32>
  %1 = kiln.sub %0, %m : (tensor<?x6x6x4xf32>, tensor<4xf32>) -> tensor<?x6x6x4xf32>
  return %1 : tensor<?x6x6x4xf32>
}

// Only the chain goes into the loop: a producer before the conv (here a tanh; in a ResNet, every
// earlier block) stays outside and runs on the whole batch once, instead of being copied into
// every chain's loop.

// CHECK-LABEL: func.func @producer_outside
func.func @producer_outside(%x: tensor<?x8x8x2xf32>, %k: tensor<3x3x2x4xf32>) -> tensor<?x6x6x4xf32> {
  // CHECK: math.tanh
  // CHECK: } -> tensor<?x8x8x2xf32>
  // CHECK: scf.for
  // CHECK-NOT: math.tanh
  // CHECK: linalg.conv_2d_nhwc_hwcf {{.*}} -> tensor<1x6x6x4xf32>
  // CHECK: scf.yield
  %a = kiln.tanh %x : (tensor<?x8x8x2xf32>) -> tensor<?x8x8x2xf32>
  %0 = kiln.conv2d %a, %k : (tensor<?x8x8x2xf32>, tensor<3x3x2x4xf32>) -> tensor<?x6x6x4xf32>
  %1 = kiln.relu %0 : (tensor<?x6x6x4xf32>) -> tensor<?x6x6x4xf32>
  return %1 : tensor<?x6x6x4xf32>
}
