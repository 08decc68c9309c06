// RUN: kiln-opt %s --split-input-file --kiln-lower-to-microkernels | FileCheck %s
// RUN: kiln-opt %s --split-input-file --kiln-lower-to-microkernels=vector-size=8 | FileCheck %s --check-prefix=AVX2

// conv2d on buffers: accumulators seeded by the absorbed zero fill, carried through the
// kh, kw and c loops, bias + relu applied before the only store. 32 filters = 2 vectors of
// 16, so 12 accumulators per row block: 26 pixels = 3 balanced blocks of 9 (the last 8).

// CHECK-LABEL: func.func @conv_bias_relu
// CHECK-NOT: linalg.fill
// CHECK: scf.for {{.*}} {
// CHECK: scf.for {{.*}} {
// CHECK: vector.broadcast %cst : f32 to vector<16xf32>
// CHECK: scf.for {{.*}} iter_args
// CHECK: scf.for {{.*}} iter_args
// CHECK: scf.for {{.*}} iter_args
// CHECK: vector.load %arg1{{.*}} : memref<3x3x1x32xf32>, vector<16xf32>
// CHECK: memref.load %arg0
// CHECK: vector.fma {{.*}} : vector<16xf32>
// CHECK: arith.addf {{.*}} : vector<16xf32>
// CHECK: arith.maximumf {{.*}} : vector<16xf32>
// CHECK: vector.store {{.*}} : memref<?x26x26x32xf32>, vector<16xf32>
// CHECK-NOT: linalg.
// AVX2-LABEL: func.func @conv_bias_relu
// AVX2: vector.fma {{.*}} : vector<8xf32>
func.func @conv_bias_relu(%x: memref<?x28x28x1xf32>, %k: memref<3x3x1x32xf32>, %b: memref<32xf32>,
                          %y: memref<?x26x26x32xf32>) {
  %cst = arith.constant 0.000000e+00 : f32
  linalg.fill ins(%cst : f32) outs(%y : memref<?x26x26x32xf32>)
  linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
    ins(%x, %k : memref<?x28x28x1xf32>, memref<3x3x1x32xf32>) outs(%y : memref<?x26x26x32xf32>)
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>],
                  iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
    ins(%y, %b : memref<?x26x26x32xf32>, memref<32xf32>) outs(%y : memref<?x26x26x32xf32>) {
  ^bb0(%in: f32, %bias: f32, %out: f32):
    %0 = arith.addf %in, %bias : f32
    %1 = arith.maximumf %0, %cst : f32
    linalg.yield %1 : f32
  }
  return
}

// -----

// 20 filters: a vector of 16 and one of 4. Strides and dilations index the input; the
// accumulators start from the output (no fill to absorb).

// CHECK-LABEL: func.func @conv_odd
// CHECK: vector.load %arg2{{.*}} : memref<?x4x4x20xf32>, vector<16xf32>
// CHECK: vector.load %arg2{{.*}} : memref<?x4x4x20xf32>, vector<4xf32>
// CHECK: vector.fma {{.*}} : vector<4xf32>
// CHECK: vector.store {{.*}} : memref<?x4x4x20xf32>, vector<4xf32>
func.func @conv_odd(%x: memref<?x10x10x3xf32>, %k: memref<3x3x3x20xf32>, %y: memref<?x4x4x20xf32>) {
  linalg.conv_2d_nhwc_hwcf {dilations = dense<[1, 2]> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
    ins(%x, %k : memref<?x10x10x3xf32>, memref<3x3x3x20xf32>) outs(%y : memref<?x4x4x20xf32>)
  return
}

// -----

// matmul: 8-row blocks up to the last multiple of 8 of the dynamic M, then one row at a
// time; N = 37 runs as a chunk of 2 vectors and a chunk of a 5-lane vector.

// CHECK-LABEL: func.func @matmul
// CHECK: %[[M:.*]] = memref.dim %arg2, %c0
// CHECK: %[[R:.*]] = arith.remui %[[M]], %c8
// CHECK: %[[FULL:.*]] = arith.subi %[[M]], %[[R]]
// CHECK: scf.for %{{.*}} = %c0{{.*}} to %[[FULL]] step %c8
// CHECK: vector.fma {{.*}} : vector<16xf32>
// CHECK: vector.fma {{.*}} : vector<5xf32>
// CHECK: scf.for %{{.*}} = %[[FULL]] to %[[M]] step %c1
// CHECK-NOT: linalg.matmul
func.func @matmul(%a: memref<?x13xf32>, %b: memref<13x37xf32>, %c: memref<?x37xf32>) {
  %cst = arith.constant 0.000000e+00 : f32
  linalg.fill ins(%cst : f32) outs(%c : memref<?x37xf32>)
  linalg.matmul ins(%a, %b : memref<?x13xf32>, memref<13x37xf32>) outs(%c : memref<?x37xf32>)
  return
}

// -----

// A fill the kernels do not absorb becomes vector stores along the contiguous dimension.

// CHECK-LABEL: func.func @fill
// CHECK: vector.store {{.*}} : memref<?x13x13x32xf32>, vector<16xf32>
// CHECK-NOT: linalg.fill
func.func @fill(%y: memref<?x13x13x32xf32>) {
  %cst = arith.constant 0xFF800000 : f32
  linalg.fill ins(%cst : f32) outs(%y : memref<?x13x13x32xf32>)
  return
}

// -----

// A matmul operand with a non-unit last stride is left to the generic lowering.

// CHECK-LABEL: func.func @strided
// CHECK: linalg.matmul
func.func @strided(%a: memref<?x4xf32>, %b: memref<4x8xf32, strided<[1, 4]>>, %c: memref<?x8xf32>) {
  linalg.matmul ins(%a, %b : memref<?x4xf32>, memref<4x8xf32, strided<[1, 4]>>) outs(%c : memref<?x8xf32>)
  return
}

// -----

// The weight gradients reduce over the dynamic batch: x^T @ dz with a dynamic K, and the
// kernel gradient's conv of x as (C, H, W, N) with dy as (OH, OW, N, F), a dynamic channel
// count. Both loop up to the memref's size.

// CHECK-LABEL: func.func @matmul_dynamic_k
// CHECK: %[[K:.*]] = memref.dim %arg1, %c0
// CHECK: scf.for %{{.*}} = %c0{{.*}} to %[[K]] step %c1
// CHECK: vector.fma {{.*}} : vector<16xf32>
// CHECK-NOT: linalg.matmul
func.func @matmul_dynamic_k(%a: memref<24x?xf32>, %b: memref<?x32xf32>, %c: memref<24x32xf32>) {
  %cst = arith.constant 0.000000e+00 : f32
  linalg.fill ins(%cst : f32) outs(%c : memref<24x32xf32>)
  linalg.matmul ins(%a, %b : memref<24x?xf32>, memref<?x32xf32>) outs(%c : memref<24x32xf32>)
  return
}

// CHECK-LABEL: func.func @conv_dynamic_channels
// CHECK: %[[C:.*]] = memref.dim %arg1, %c2
// CHECK: scf.for %{{.*}} = %c0{{.*}} to %[[C]] step %c1
// CHECK: vector.fma {{.*}} : vector<16xf32>
// CHECK-NOT: linalg.conv_2d_nhwc_hwcf
func.func @conv_dynamic_channels(%x: memref<32x13x13x?xf32>, %k: memref<11x11x?x64xf32>,
                                 %y: memref<32x3x3x64xf32>) {
  %cst = arith.constant 0.000000e+00 : f32
  linalg.fill ins(%cst : f32) outs(%y : memref<32x3x3x64xf32>)
  linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
    ins(%x, %k : memref<32x13x13x?xf32>, memref<11x11x?x64xf32>) outs(%y : memref<32x3x3x64xf32>)
  return
}
