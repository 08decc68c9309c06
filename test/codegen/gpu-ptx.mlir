// The GPU pipeline (kilnc --device gpu, kiln-opt --kiln-linalg-to-gpu) on Dense(16, relu):
// one kernel for the fill, one for the matmul, one for bias + relu fused, as PTX for sm_90 (or
// --gpu-chip), blocks of 256 threads; the host side copies in and out and launches.
// RUN: kilnc compile %s --device gpu --emit=ptx | FileCheck %s
// RUN: kilnc compile %s --device gpu --gpu-chip=sm_80 --emit=ptx | FileCheck %s --check-prefix=SM80
// RUN: kiln-opt %s --kiln-to-linalg --kiln-linalg-to-gpu | FileCheck %s --check-prefix=HOST
// RUN: not kilnc compile %s --emit=ptx 2>&1 | FileCheck %s --check-prefix=NODEVICE

// CHECK: .target sm_90
// CHECK: .visible .entry predict_kernel(
// CHECK: .maxntid 256, 1, 1
// CHECK: st.global
// CHECK: .target sm_90
// CHECK: .entry predict_kernel(
// CHECK: mul.rn.f32
// CHECK: .target sm_90
// CHECK: .entry predict_kernel(
// CHECK: max.NaN.f32
// CHECK-NOT: .entry

// SM80: .target sm_80
// SM80-NOT: sm_90

// HOST-LABEL: llvm.func @predict(
// HOST: llvm.call @mgpuMemAlloc
// HOST: llvm.call @mgpuMemcpy
// HOST-COUNT-3: gpu.launch_func
// HOST: llvm.call @mgpuMemcpy
// HOST: llvm.call @mgpuMemFree
// HOST: gpu.binary @predict_kernel_1 [#gpu.object<#nvvm.target<O = 3, chip = "sm_90">

// NODEVICE: error: --emit=ptx needs --device gpu
func.func @predict(%x: tensor<?x4xf32>, %w: tensor<4x16xf32>, %b: tensor<16xf32>) -> tensor<?x16xf32> {
  %0 = kiln.matmul %x, %w : (tensor<?x4xf32>, tensor<4x16xf32>) -> tensor<?x16xf32>
  %1 = kiln.add %0, %b : (tensor<?x16xf32>, tensor<16xf32>) -> tensor<?x16xf32>
  %2 = kiln.relu %1 : (tensor<?x16xf32>) -> tensor<?x16xf32>
  return %2 : tensor<?x16xf32>
}
