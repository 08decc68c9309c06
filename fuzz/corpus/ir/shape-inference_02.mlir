// Every other layer: concat, transpose, reductions, same padding, strides.

func.func @other_layers(%x: tensor<?x32x32x3xf32>, %k: tensor<5x5x3x8xf32>, %s: tensor<?x4x6xf32>) -> (tensor<*xf32>, tensor<*xf32>) {
  %0 = kiln.conv2d %x, %k {strides = array<i64: 2, 2>, padding = "same"} : (tensor<?x32x32x3xf32>, tensor<5x5x3x8xf32>) -> tensor<*xf32>
  %1 = kiln.avg_pool2d %0 {pool_size = array<i64: 3, 3>, strides = array<i64: 3, 3>, padding = "same"} : (tensor<*xf32>) -> tensor<*xf32>
  %2 = kiln.reduce_max %1 {axes = array<i64: 1, 2>, keepdims = true} : (tensor<*xf32>) -> tensor<*xf32>
  %3 = kiln.reduce_mean %2 {axes = array<i64: 1, 2>} : (tensor<*xf32>) -> tensor<*xf32>
  %4 = kiln.transpose %s {perm = array<i64: 0, 2, 1>} : (tensor<?x4x6xf32>) -> tensor<*xf32>
  %5 = kiln.reshape %4 {shape = array<i64: -1>} : (tensor<*xf32>) -> tensor<*xf32>
  %6 = kiln.concat %5, %3 : (tensor<*xf32>, tensor<*xf32>) -> tensor<*xf32>
  return %3, %6 : tensor<*xf32>, tensor<*xf32>
}
