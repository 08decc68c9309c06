func.func @grad_type(%loss: tensor<f32>, %w: tensor<4xf32>) -> tensor<?xf32> {
  %0 = kiln.grad %loss wrt %w : (tensor<f32>, tensor<4xf32>) -> tensor<?xf32>
  return %0 : tensor<?xf32>
}
