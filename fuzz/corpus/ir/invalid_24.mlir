func.func @transpose_perm(%x: tensor<?x3x4xf32>) -> tensor<*xf32> {
  %0 = kiln.transpose %x {perm = array<i64: 0, 1, 1>} : (tensor<?x3x4xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}
