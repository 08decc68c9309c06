func.func @conv_grad_input_channels(%dy: tensor<?x5x5x4xf32>, %k: tensor<3x3x3x4xf32>) -> tensor<?x7x7x2xf32> {
  %0 = kiln.conv2d_grad_input %dy, %k : (tensor<?x5x5x4xf32>, tensor<3x3x3x4xf32>) -> tensor<?x7x7x2xf32>
  return %0 : tensor<?x7x7x2xf32>
}
