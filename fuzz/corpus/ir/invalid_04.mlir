// Conv2D: NHWC input, HWIO kernel.
func.func @conv_rank(%x: tensor<?x28x28xf32>, %k: tensor<3x3x1x8xf32>) -> tensor<*xf32> {
  %0 = kiln.conv2d %x, %k : (tensor<?x28x28xf32>, tensor<3x3x1x8xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}
