// Three batch-sized buffers in a chain: %a is dead once %b is written, so %c takes its bytes
// and the workspace holds two buffers, not three. Each row of 16 bytes is rounded to 64.
// The plan, as a module attribute: workspace 128 * batch, naive sum 48 * batch.
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
