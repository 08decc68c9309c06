// RUN: kiln-opt %s --kiln-to-linalg --kiln-tile-and-vectorize | FileCheck %s
// RUN: kiln-opt %s --kiln-to-linalg | FileCheck %s --check-prefix=LINALG

// Matmul and convolution become vector contractions in tile loops, not scalar loop nests.

// CHECK-LABEL: func.func @dense
// LINALG-LABEL: func.func @dense
func.func @dense(%x: tensor<?x1600xf32>, %w: tensor<1600x128xf32>) -> tensor<?x128xf32> {
  // LINALG: linalg.matmul
  // CHECK: scf.for
  // CHECK: scf.for
  // CHECK: vector.transfer_read {{.*}} : tensor<1x16xf32>, vector<1x16xf32>
  // CHECK: vector.transfer_read {{.*}} : tensor<16x128xf32>, vector<16x128xf32>
  // CHECK: vector.contract {{.*}} vector<1x16xf32>, vector<16x128xf32> into vector<1x128xf32>
  // CHECK: vector.transfer_write
  // CHECK-NOT: linalg.matmul
  %0 = kiln.matmul %x, %w : (tensor<?x1600xf32>, tensor<1600x128xf32>) -> tensor<?x128xf32>
  return %0 : tensor<?x128xf32>
}

// CHECK-LABEL: func.func @conv
// LINALG-LABEL: func.func @conv
func.func @conv(%x: tensor<?x13x13x32xf32>, %k: tensor<3x3x32x64xf32>) -> tensor<?x11x11x64xf32> {
  // LINALG: linalg.conv_2d_nhwc_hwcf
  // CHECK: scf.for
  // CHECK: vector.transfer_read
  // CHECK: vector.contract {{.*}} into vector<1x11x16xf32>
  // CHECK: vector.transfer_write
  // CHECK-NOT: linalg.conv
  %0 = kiln.conv2d %x, %k : (tensor<?x13x13x32xf32>, tensor<3x3x32x64xf32>) -> tensor<?x11x11x64xf32>
  return %0 : tensor<?x11x11x64xf32>
}

// CHECK-LABEL: func.func @pool
func.func @pool(%x: tensor<?x26x26x32xf32>) -> tensor<?x13x13x32xf32> {
  // CHECK: scf.for
  // CHECK: arith.maximumf {{.*}} : vector<1x1x32xf32>
  // CHECK-NOT: linalg.pooling
  %0 = kiln.max_pool2d %x {pool_size = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<?x26x26x32xf32>) -> tensor<?x13x13x32xf32>
  return %0 : tensor<?x13x13x32xf32>
}
