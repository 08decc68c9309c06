func.func @conv_strides(%x: tensor<?x28x28x1xf32>, %k: tensor<3x3x1x8xf32>) -> tensor<*xf32> {
  %0 = kiln.conv2d %x, %k {strides = array<i64: 0, 1>} : (tensor<?x28x28x1xf32>, tensor<3x3x1x8xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}
