func.func @conv_kernel_rank(%x: tensor<?x28x28x1xf32>, %k: tensor<3x3x8xf32>) -> tensor<*xf32> {
  %0 = kiln.conv2d %x, %k : (tensor<?x28x28x1xf32>, tensor<3x3x8xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}
