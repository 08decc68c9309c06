// Training dropout: the backward pass drops dy with the same seed and step, so the same
// elements, scaled alike.
func.func @dropout_train(%x: tensor<?x4xf32>, %w: tensor<4x1xf32>, %step: tensor<i64>) -> tensor<4x1xf32> {
  %0 = kiln.dropout %x, %step {rate = 0.5 : f32, seed = 3 : i64, training = true} : (tensor<?x4xf32>, tensor<i64>) -> tensor<?x4xf32>
  %1 = kiln.matmul %0, %w : (tensor<?x4xf32>, tensor<4x1xf32>) -> tensor<?x1xf32>
  %2 = kiln.reduce_sum %1 {axes = array<i64: 0, 1>} : (tensor<?x1xf32>) -> tensor<f32>
  %g = kiln.grad %2 wrt %w : (tensor<f32>, tensor<4x1xf32>) -> tensor<4x1xf32>
  return %g : tensor<4x1xf32>
}
