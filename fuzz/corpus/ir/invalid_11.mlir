// Pooling windows.
func.func @pool_rank(%x: tensor<?x28x28xf32>) -> tensor<*xf32> {
  %0 = kiln.max_pool2d %x {pool_size = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<?x28x28xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}
