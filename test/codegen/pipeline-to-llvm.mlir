// RUN: kiln-opt %s --kiln-to-linalg --kiln-linalg-to-llvm | FileCheck %s

// The caller allocates the result: @predict returns nothing and takes the output last.
// CHECK-LABEL: llvm.func @predict
// CHECK-SAME: (%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64
// CHECK-NOT: llvm.call @memrefCopy
// CHECK-NOT: llvm.call @erff
// CHECK-NOT: llvm.call @tanhf
// Intermediate buffers are freed.
// CHECK: llvm.call @free
// CHECK: llvm.return
// CHECK-NEXT: }
// The C interface wrapper takes one descriptor pointer per argument, outputs last.
// CHECK-LABEL: llvm.func @_mlir_ciface_predict
// CHECK-SAME: (%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr)
// CHECK-NOT: builtin.unrealized_conversion_cast
func.func @predict(%x: tensor<?x8xf32>, %w: tensor<8x16xf32>, %b: tensor<16xf32>) -> tensor<?x16xf32> {
  %0 = kiln.matmul %x, %w : (tensor<?x8xf32>, tensor<8x16xf32>) -> tensor<?x16xf32>
  %1 = kiln.add %0, %b : (tensor<?x16xf32>, tensor<16xf32>) -> tensor<?x16xf32>
  %2 = kiln.gelu %1 : (tensor<?x16xf32>) -> tensor<?x16xf32>
  %3 = kiln.tanh %2 : (tensor<?x16xf32>) -> tensor<?x16xf32>
  %4 = kiln.softmax %3 {axis = -1 : i64} : (tensor<?x16xf32>) -> tensor<?x16xf32>
  return %4 : tensor<?x16xf32>
}
