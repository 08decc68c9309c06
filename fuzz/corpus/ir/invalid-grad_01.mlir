func.func @grad_count(%loss: tensor<f32>, %w: tensor<4xf32>, %b: tensor<2xf32>) -> tensor<4xf32> {
  %0 = kiln.grad %loss wrt %w, %b : (tensor<f32>, tensor<4xf32>, tensor<2xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}
