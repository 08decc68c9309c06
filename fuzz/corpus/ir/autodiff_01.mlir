// Conv, pool, flatten, softmax: each has its backward op; the first conv's input gets none.
func.func @cnn(%x: tensor<?x28x28x1xf32>, %k: tensor<3x3x1x2xf32>, %w: tensor<338x3xf32>) -> (tensor<3x3x1x2xf32>, tensor<338x3xf32>) {
  %0 = kiln.conv2d %x, %k : (tensor<?x28x28x1xf32>, tensor<3x3x1x2xf32>) -> tensor<?x26x26x2xf32>
  %1 = kiln.relu %0 : (tensor<?x26x26x2xf32>) -> tensor<?x26x26x2xf32>
  %2 = kiln.max_pool2d %1 {pool_size = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<?x26x26x2xf32>) -> tensor<?x13x13x2xf32>
  %3 = kiln.reshape %2 {shape = array<i64: -1>} : (tensor<?x13x13x2xf32>) -> tensor<?x338xf32>
  %4 = kiln.matmul %3, %w : (tensor<?x338xf32>, tensor<338x3xf32>) -> tensor<?x3xf32>
  %5 = kiln.softmax %4 {axis = -1 : i64} : (tensor<?x3xf32>) -> tensor<?x3xf32>
  %6 = kiln.log %5 : (tensor<?x3xf32>) -> tensor<?x3xf32>
  %7 = kiln.reduce_sum %6 {axes = array<i64: 0, 1>} : (tensor<?x3xf32>) -> tensor<f32>
  %g:2 = kiln.grad %7 wrt %k, %w : (tensor<f32>, tensor<3x3x1x2xf32>, tensor<338x3xf32>) -> (tensor<3x3x1x2xf32>, tensor<338x3xf32>)
  return %g#0, %g#1 : tensor<3x3x1x2xf32>, tensor<338x3xf32>
}
