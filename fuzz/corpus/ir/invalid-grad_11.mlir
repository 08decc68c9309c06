func.func @conv_grad_kernel_rank(%x: tensor<?x7x7x3xf32>, %dy: tensor<?x5x5x4xf32>) -> tensor<3x3x4xf32> {
  %0 = kiln.conv2d_grad_kernel %x, %dy : (tensor<?x7x7x3xf32>, tensor<?x5x5x4xf32>) -> tensor<3x3x4xf32>
  return %0 : tensor<3x3x4xf32>
}
