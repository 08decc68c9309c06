func.func @matmul_kernel_rank(%x: tensor<?x4xf32>, %w: tensor<4xf32>) -> tensor<*xf32> {
  %0 = kiln.matmul %x, %w : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}
