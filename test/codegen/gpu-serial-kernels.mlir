// A reduction to a scalar (a batch's mean loss) has no parallel loop; on the GPU it becomes a
// kernel of one thread (kiln-gpu-serial-kernels) instead of host loops over device memory, so
// whole train steps compile for the GPU. The gradient of the mean loss goes through too.
// Host functions hold no loops: every loop nest is a kernel.
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

// A bias gradient sums over (batch, y, x) for each channel: its loops are interchanged so the
// channel loop is the kernel's and the sums run inside it; no host loop launches kernels.
// CHECK-LABEL: llvm.func @bias_grad(
// CHECK-NOT: llvm.cond_br
// CHECK: llvm.return
func.func @bias_grad(%x: tensor<?x5x5x3xf32>, %b: tensor<3xf32>) -> tensor<3xf32> {
  %y = kiln.add %x, %b : (tensor<?x5x5x3xf32>, tensor<3xf32>) -> tensor<?x5x5x3xf32>
  %sq = kiln.square %y : (tensor<?x5x5x3xf32>) -> tensor<?x5x5x3xf32>
  %l = kiln.reduce_mean %sq {axes = array<i64: 0, 1, 2, 3>} : (tensor<?x5x5x3xf32>) -> tensor<f32>
  %g = kiln.grad %l wrt %b : (tensor<f32>, tensor<3xf32>) -> tensor<3xf32>
  return %g : tensor<3xf32>
}
