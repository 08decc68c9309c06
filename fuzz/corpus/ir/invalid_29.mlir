// Reductions.
func.func @reduce_axis(%x: tensor<?x8xf32>) -> tensor<*xf32> {
  %0 = kiln.reduce_sum %x {axes = array<i64: -3>} : (tensor<?x8xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}
