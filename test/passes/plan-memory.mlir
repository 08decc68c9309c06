// RUN: kiln-opt %s --split-input-file --kiln-plan-memory --verify-diagnostics | FileCheck %s

// Three batch-sized buffers in a chain: %a is dead once %b is written, so %c takes its bytes
// and the workspace holds two buffers, not three. Each row of 16 bytes is rounded to 64.
// The plan, as a module attribute: workspace 128 * batch, naive sum 48 * batch.
// CHECK: module attributes {kiln.memory_plan = {chain = {buffers = 3 : i64, ends = array<i64: 128, 0>, naive = array<i64: 48, 0>}}
// CHECK-LABEL: func.func @chain
// CHECK-SAME: %[[X:[^:]*]]: memref<?x4xf32>, %{{[^:]*}}: memref<?x4xf32>, %[[WS:[^:]*]]: memref<?xi8> {kiln.workspace}
// CHECK: %[[N:.*]] = memref.dim %[[X]], %{{.*}} : memref<?x4xf32>
// CHECK: %[[A:.*]] = memref.view %[[WS]][%[[OFFA:.*]]][%{{.*}}] : memref<?xi8> to memref<?x4xf32>
// CHECK: %[[OFFB:.*]] = arith.addi
// CHECK: %[[B:.*]] = memref.view %[[WS]][%[[OFFB]]][%{{.*}}] : memref<?xi8> to memref<?x4xf32>
// CHECK: %[[C:.*]] = memref.view %[[WS]][%{{.*}}][%{{.*}}] : memref<?xi8> to memref<?x4xf32>
// CHECK-NOT: memref.alloc
// CHECK: return
// CHECK-LABEL: func.func @chain_workspace_size
// CHECK-SAME: (%[[BATCH:.*]]: i64) -> i64
// CHECK: %[[SLOPE:.*]] = arith.constant 128 : i64
// CHECK: arith.muli %[[BATCH]], %[[SLOPE]]
// CHECK: arith.maxsi
func.func @chain(%x: memref<?x4xf32>, %y: memref<?x4xf32>) {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?x4xf32>
  %a = memref.alloc(%n) {alignment = 64 : i64} : memref<?x4xf32>
  memref.copy %x, %a : memref<?x4xf32> to memref<?x4xf32>
  %b = memref.alloc(%n) {alignment = 64 : i64} : memref<?x4xf32>
  memref.copy %a, %b : memref<?x4xf32> to memref<?x4xf32>
  %c = memref.alloc(%n) {alignment = 64 : i64} : memref<?x4xf32>
  memref.copy %b, %c : memref<?x4xf32> to memref<?x4xf32>
  memref.copy %c, %y : memref<?x4xf32> to memref<?x4xf32>
  return
}

// -----

// A reshaped buffer stays live while its reshape is used, and a static buffer placed above a
// batch-sized one gets an offset that grows with the batch.
// CHECK: kiln.memory_plan = {reshape_and_static = {buffers = 2 : i64, ends = array<i64: 64, 64>, naive = array<i64: 32, 32>}}
// CHECK-LABEL: func.func @reshape_and_static
// CHECK-COUNT-2: memref.view
// CHECK-NOT: memref.alloc
func.func @reshape_and_static(%x: memref<?x2x4xf32>, %y: memref<?x8xf32>) {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?x2x4xf32>
  %a = memref.alloc(%n) : memref<?x2x4xf32>
  memref.copy %x, %a : memref<?x2x4xf32> to memref<?x2x4xf32>
  %flat = memref.collapse_shape %a [[0], [1, 2]] : memref<?x2x4xf32> into memref<?x8xf32>
  %s = memref.alloca() : memref<8xf32>
  %m = memref.dim %flat, %c0 : memref<?x8xf32>
  memref.copy %flat, %y : memref<?x8xf32> to memref<?x8xf32>
  return
}

// -----

func.func @escapes(%x: memref<4xf32>) -> memref<4xf32> {
  // expected-error @below {{kiln-plan-memory: this buffer escapes through func.return}}
  %a = memref.alloc() : memref<4xf32>
  memref.copy %x, %a : memref<4xf32> to memref<4xf32>
  return %a : memref<4xf32>
}

// -----

func.func @not_the_batch(%x: memref<?xf32>, %k: index) {
  // expected-error @below {{kiln-plan-memory: the size of this buffer is not affine in the batch}}
  %a = memref.alloc(%k) : memref<?xf32>
  memref.copy %x, %a : memref<?xf32> to memref<?xf32>
  return
}
