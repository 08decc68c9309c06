// RUN: kiln-opt %s | kiln-opt | FileCheck %s

// CHECK-LABEL: func.func @dense
func.func @dense(%x: tensor<?x4xf32>, %w: tensor<4x16xf32>, %b: tensor<16xf32>) -> tensor<?x16xf32> {
  // CHECK: kiln.matmul %{{.*}}, %{{.*}} : (tensor<?x4xf32>, tensor<4x16xf32>) -> tensor<?x16xf32>
  %0 = kiln.matmul %x, %w : (tensor<?x4xf32>, tensor<4x16xf32>) -> tensor<?x16xf32>
  // CHECK: kiln.add
  %1 = kiln.add %0, %b : (tensor<?x16xf32>, tensor<16xf32>) -> tensor<?x16xf32>
  // CHECK: kiln.relu
  %2 = kiln.relu %1 : (tensor<?x16xf32>) -> tensor<?x16xf32>
  return %2 : tensor<?x16xf32>
}
