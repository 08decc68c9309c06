// Reductions on buffers become loops that carry the accumulator (kiln-gpu-reduction-loops):
// in a GPU kernel the output element is loaded once and stored once, not at every term.
// RUN: kiln-opt %s --kiln-gpu-reduction-loops | FileCheck %s

// CHECK-LABEL: func.func @mm(
// CHECK-SAME: %[[A:.*]]: memref<?x1600xf32>, %[[B:.*]]: memref<1600x128xf32>, %[[C:.*]]: memref<?x128xf32>
// CHECK: scf.parallel (%[[I:.*]], %[[J:.*]]) =
// CHECK-NEXT: %[[INIT:.*]] = memref.load %[[C]][%[[I]], %[[J]]]
// CHECK: %[[SUM:.*]] = scf.for %[[K:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[ACC:.*]] = %[[INIT]]) -> (f32)
// CHECK-NEXT: %[[X:.*]] = memref.load %[[A]][%[[I]], %[[K]]]
// CHECK-NEXT: %[[Y:.*]] = memref.load %[[B]][%[[K]], %[[J]]]
// CHECK-NEXT: %[[P:.*]] = arith.mulf %[[X]], %[[Y]]
// CHECK-NEXT: %[[S:.*]] = arith.addf %[[ACC]], %[[P]]
// CHECK-NEXT: scf.yield %[[S]]
// CHECK: memref.store %[[SUM]], %[[C]][%[[I]], %[[J]]]
// CHECK-NOT: linalg.
func.func @mm(%a: memref<?x1600xf32>, %b: memref<1600x128xf32>, %c: memref<?x128xf32>) {
  linalg.matmul ins(%a, %b : memref<?x1600xf32>, memref<1600x128xf32>) outs(%c : memref<?x128xf32>)
  return
}

// No parallel loop: a nest of scf.for at the op's place, no scf.parallel.
// CHECK-LABEL: func.func @sum(
// CHECK-NOT: scf.parallel
// CHECK: %[[INIT:.*]] = memref.load %{{.*}}[] : memref<f32>
// CHECK: scf.for {{.*}} iter_args(%{{.*}} = %[[INIT]])
// CHECK: scf.for
// CHECK: memref.store
func.func @sum(%a: memref<?x10xf32>, %c: memref<f32>) {
  linalg.reduce ins(%a : memref<?x10xf32>) outs(%c : memref<f32>) dimensions = [0, 1]
    (%x: f32, %y: f32) { %s = arith.addf %x, %y : f32
      linalg.yield %s : f32 }
  return
}

// A convolution's input is read through affine.apply of (y + ky); linalg.index becomes the
// loop's induction variable. Elementwise ops (no reduction) are left to the usual lowering.
// CHECK-LABEL: func.func @conv_index(
// CHECK: scf.parallel
// CHECK: scf.for %[[KY:[[:alnum:]_]+]] =
// CHECK: affine.apply
// CHECK: arith.index_cast %[[KY]]
// CHECK: linalg.generic
func.func @conv_index(%x: memref<8x10xf32>, %w: memref<3xf32>, %y: memref<8x8xf32>) {
  linalg.generic {indexing_maps = [affine_map<(n, o, k) -> (n, o + k)>,
                                   affine_map<(n, o, k) -> (k)>,
                                   affine_map<(n, o, k) -> (n, o)>],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<8x10xf32>, memref<3xf32>) outs(%y : memref<8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %k = linalg.index 2 : index
    %ki = arith.index_cast %k : index to i64
    %kf = arith.sitofp %ki : i64 to f32
    %p = arith.mulf %a, %b : f32
    %q = arith.mulf %p, %kf : f32
    %s = arith.addf %acc, %q : f32
    linalg.yield %s : f32
  }
  linalg.generic {indexing_maps = [affine_map<(n, o) -> (n, o)>],
                  iterator_types = ["parallel", "parallel"]} outs(%y : memref<8x8xf32>) {
  ^bb0(%v: f32):
    %r = arith.maximumf %v, %v : f32
    linalg.yield %r : f32
  }
  return
}
