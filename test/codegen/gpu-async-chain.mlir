// kiln-gpu-async-chain: one stream per call. The allocations, copies, launches and frees of a
// function depend on each other in order; the host waits once, before the return, and before
// a call (after which a new chain starts).
// RUN: kiln-opt %s --kiln-gpu-async-chain | FileCheck %s

module attributes {gpu.container_module} {
  gpu.module @k {
    gpu.func @k(%m: memref<16xf32>) kernel {
      gpu.return
    }
  }
  func.func private @host(memref<16xf32>)

  // CHECK-LABEL: func.func @f(
  // CHECK-SAME: %[[ARG:.*]]: memref<16xf32>
  // CHECK: %[[S:.*]] = gpu.wait async
  // CHECK-NEXT: %[[M:.*]], %[[T1:.*]] = gpu.alloc async [%[[S]]] () : memref<16xf32>
  // CHECK-NEXT: %[[T2:.*]] = gpu.memcpy async [%[[T1]]] %[[M]], %[[ARG]]
  // CHECK-NEXT: %[[T3:.*]] = gpu.launch_func async [%[[T2]]] @k::@k
  // CHECK-NEXT: %[[T4:.*]] = gpu.launch_func async [%[[T3]]] @k::@k
  // CHECK-NEXT: %[[T5:.*]] = gpu.memcpy async [%[[T4]]] %[[ARG]], %[[M]]
  // CHECK-NEXT: %[[T6:.*]] = gpu.dealloc async [%[[T5]]] %[[M]]
  // CHECK-NEXT: gpu.wait [%[[T6]]]
  // CHECK-NEXT: return
  func.func @f(%arg0: memref<16xf32>) {
    %c1 = arith.constant 1 : index
    %0 = gpu.wait async
    %m, %t0 = gpu.alloc async [%0] () : memref<16xf32>
    %1 = gpu.memcpy async [%t0] %m, %arg0 : memref<16xf32>, memref<16xf32>
    gpu.wait [%1]
    gpu.launch_func @k::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%m : memref<16xf32>)
    gpu.launch_func @k::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%m : memref<16xf32>)
    %2 = gpu.wait async
    %3 = gpu.memcpy async [%2] %arg0, %m : memref<16xf32>, memref<16xf32>
    %4 = gpu.dealloc async [%3] %m : memref<16xf32>
    gpu.wait [%4]
    return
  }

  // CHECK-LABEL: func.func @g(
  // CHECK: %[[S:.*]] = gpu.wait async
  // CHECK-NEXT: %[[T1:.*]] = gpu.launch_func async [%[[S]]] @k::@k
  // CHECK-NEXT: gpu.wait [%[[T1]]]
  // CHECK-NEXT: call @host
  // CHECK-NEXT: %[[S2:.*]] = gpu.wait async
  // CHECK-NEXT: %[[T2:.*]] = gpu.launch_func async [%[[S2]]] @k::@k
  // CHECK-NEXT: gpu.wait [%[[T2]]]
  // CHECK-NEXT: return
  func.func @g(%arg0: memref<16xf32>) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @k::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%arg0 : memref<16xf32>)
    call @host(%arg0) : (memref<16xf32>) -> ()
    gpu.launch_func @k::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%arg0 : memref<16xf32>)
    return
  }
}
