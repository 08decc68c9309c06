// A reshaped buffer stays live while its reshape is used, and a static buffer placed above a
// batch-sized one gets an offset that grows with the batch.
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
