func.func @reduce_dup(%x: tensor<?x8xf32>) -> tensor<*xf32> {
  %0 = kiln.reduce_mean %x {axes = array<i64: 1, -1>} : (tensor<?x8xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}
