func.func @pool_padding(%x: tensor<?x28x28x1xf32>) -> tensor<*xf32> {
  %0 = kiln.avg_pool2d %x {pool_size = array<i64: 2, 2>, strides = array<i64: 2, 2>, padding = "SAME"} : (tensor<?x28x28x1xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}
