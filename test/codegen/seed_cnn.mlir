// The seed CNN (Fashion-MNIST) as kiln IR: conv 32 3x3 + relu, pool, conv 64 3x3 + relu,
// pool, flatten, dense 128 + relu, dense 10, softmax. Also the full-pipeline lit test.
// RUN: kiln-opt %s --kiln-to-linalg --kiln-linalg-to-llvm | FileCheck %s
// RUN: kiln-opt %s --kiln-to-linalg --kiln-linalg-to-llvm=tile-and-vectorize=false | FileCheck %s --check-prefix=PLAIN
// RUN: kiln-opt %s --kiln-to-linalg --kiln-linalg-to-llvm="microkernels=false fuse-image-chains=false" | FileCheck %s
// RUN: kiln-opt %s --kiln-to-linalg --kiln-linalg-to-llvm=target-cpu=x86-64-v3 | FileCheck %s --check-prefix=AVX2

// CHECK-LABEL: llvm.func @predict
// CHECK: llvm.intr.fmuladd
// CHECK-LABEL: llvm.func @_mlir_ciface_predict
// AVX2-LABEL: llvm.func @predict
// AVX2: llvm.intr.fmuladd{{.*}} : (vector<8xf32>, vector<8xf32>, vector<8xf32>) -> vector<8xf32>
// AVX2-NOT: vector<16xf32>
// AVX2-LABEL: llvm.func @_mlir_ciface_predict
// PLAIN-LABEL: llvm.func @predict
// PLAIN-NOT: vector<
// PLAIN-LABEL: llvm.func @_mlir_ciface_predict
func.func @predict(%x: tensor<?x28x28x1xf32>,
                   %k1: tensor<3x3x1x32xf32>, %b1: tensor<32xf32>,
                   %k2: tensor<3x3x32x64xf32>, %b2: tensor<64xf32>,
                   %w3: tensor<1600x128xf32>, %b3: tensor<128xf32>,
                   %w4: tensor<128x10xf32>, %b4: tensor<10xf32>) -> tensor<?x10xf32> {
  %0 = kiln.conv2d %x, %k1 : (tensor<?x28x28x1xf32>, tensor<3x3x1x32xf32>) -> tensor<?x26x26x32xf32>
  %1 = kiln.add %0, %b1 : (tensor<?x26x26x32xf32>, tensor<32xf32>) -> tensor<?x26x26x32xf32>
  %2 = kiln.relu %1 : (tensor<?x26x26x32xf32>) -> tensor<?x26x26x32xf32>
  %3 = kiln.max_pool2d %2 {pool_size = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<?x26x26x32xf32>) -> tensor<?x13x13x32xf32>
  %4 = kiln.conv2d %3, %k2 : (tensor<?x13x13x32xf32>, tensor<3x3x32x64xf32>) -> tensor<?x11x11x64xf32>
  %5 = kiln.add %4, %b2 : (tensor<?x11x11x64xf32>, tensor<64xf32>) -> tensor<?x11x11x64xf32>
  %6 = kiln.relu %5 : (tensor<?x11x11x64xf32>) -> tensor<?x11x11x64xf32>
  %7 = kiln.max_pool2d %6 {pool_size = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<?x11x11x64xf32>) -> tensor<?x5x5x64xf32>
  %8 = kiln.reshape %7 {shape = array<i64: -1>} : (tensor<?x5x5x64xf32>) -> tensor<?x1600xf32>
  %9 = kiln.matmul %8, %w3 : (tensor<?x1600xf32>, tensor<1600x128xf32>) -> tensor<?x128xf32>
  %10 = kiln.add %9, %b3 : (tensor<?x128xf32>, tensor<128xf32>) -> tensor<?x128xf32>
  %11 = kiln.relu %10 : (tensor<?x128xf32>) -> tensor<?x128xf32>
  %12 = kiln.matmul %11, %w4 : (tensor<?x128xf32>, tensor<128x10xf32>) -> tensor<?x10xf32>
  %13 = kiln.add %12, %b4 : (tensor<?x10xf32>, tensor<10xf32>) -> tensor<?x10xf32>
  %14 = kiln.softmax %13 {axis = -1 : i64} : (tensor<?x10xf32>) -> tensor<?x10xf32>
  return %14 : tensor<?x10xf32>
}
