func.func @conv_grad_input_rank(%dy: tensor<?x5x4xf32>, %k: tensor<3x3x3x4xf32>) -> tensor<?x7x7x3xf32> {
  %0 = kiln.conv2d_grad_input %dy, %k : (tensor<?x5x4xf32>, tensor<3x3x3x4xf32>) -> tensor<?x7x7x3xf32>
  return %0 : tensor<?x7x7x3xf32>
}
