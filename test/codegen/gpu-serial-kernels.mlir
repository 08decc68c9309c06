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

// Embedding's gradient is a scatter-add loop (scf.for, not a linalg op): after bufferization it
// runs as a one-thread kernel, so the host never loads or stores device memory.
// CHECK-LABEL: llvm.func @embedding_grad(
// CHECK-NOT: llvm.load
// CHECK-NOT: llvm.store
// CHECK: llvm.return
func.func @embedding_grad(%ids: tensor<?x3xf32>, %t: tensor<10x4xf32>) -> (tensor<f32>, tensor<10x4xf32>) {
  %0 = kiln.gather %t, %ids : (tensor<10x4xf32>, tensor<?x3xf32>) -> tensor<?x3x4xf32>
  %1 = kiln.square %0 : (tensor<?x3x4xf32>) -> tensor<?x3x4xf32>
  %2 = kiln.reduce_sum %1 {axes = array<i64: 0, 1, 2>} : (tensor<?x3x4xf32>) -> tensor<f32>
  %dt = kiln.grad %2 wrt %t : (tensor<f32>, tensor<10x4xf32>) -> tensor<10x4xf32>
  return %2, %dt : tensor<f32>, tensor<10x4xf32>
}
