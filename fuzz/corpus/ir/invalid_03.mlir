func.func @matmul_scalar(%x: tensor<f32>, %w: tensor<4x4xf32>) -> tensor<*xf32> {
  %0 = kiln.matmul %x, %w : (tensor<f32>, tensor<4x4xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}
