// A reduction to a scalar (a batch's mean loss) has no parallel loop; on the GPU it becomes a
// kernel of one thread (kiln-gpu-serial-kernels) instead of host loops over device memory, so
// whole train steps compile for the GPU. The gradient of the mean loss goes through too.
// RUN: kiln-opt %s --kiln-to-linalg --kiln-linalg-to-gpu | FileCheck %s
// RUN: kilnc compile %s --device gpu --emit=ptx | FileCheck %s --check-prefix=PTX

// CHECK-LABEL: llvm.func @loss_and_grad(
// CHECK-NOT: llvm.load
// CHECK: gpu.launch_func
// CHECK: llvm.call @mgpuMemcpy
// CHECK: llvm.func @_mlir_ciface_loss_and_grad(
// CHECK: gpu.binary

// PTX: .entry loss_and_grad_kernel
func.func @loss_and_grad(%x: tensor<?x4xf32>) -> (tensor<f32>, tensor<?x4xf32>) {
  %sq = kiln.square %x : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %l = kiln.reduce_mean %sq {axes = array<i64: 0, 1>} : (tensor<?x4xf32>) -> tensor<f32>
  %g = kiln.grad %l wrt %x : (tensor<f32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return %l, %g : tensor<f32>, tensor<?x4xf32>
}
