// A Dense layer with relu and a mean squared error: the kernel's gradient is x^T @ dz, the
// bias's the batch sum of dz; nothing is computed for the input x.
func.func @dense_mse(%x: tensor<?x4xf32>, %y: tensor<?x2xf32>, %w: tensor<4x2xf32>, %b: tensor<2xf32>) -> (tensor<f32>, tensor<4x2xf32>, tensor<2xf32>) {
  %0 = kiln.matmul %x, %w : (tensor<?x4xf32>, tensor<4x2xf32>) -> tensor<?x2xf32>
  %1 = kiln.add %0, %b : (tensor<?x2xf32>, tensor<2xf32>) -> tensor<?x2xf32>
  %2 = kiln.relu %1 : (tensor<?x2xf32>) -> tensor<?x2xf32>
  %3 = kiln.sub %2, %y : (tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<?x2xf32>
  %4 = kiln.square %3 : (tensor<?x2xf32>) -> tensor<?x2xf32>
  %5 = kiln.reduce_mean %4 {axes = array<i64: 0, 1>} : (tensor<?x2xf32>) -> tensor<f32>
  %g:2 = kiln.grad %5 wrt %w, %b : (tensor<f32>, tensor<4x2xf32>, tensor<2xf32>) -> (tensor<4x2xf32>, tensor<2xf32>)
  return %5, %g#0, %g#1 : tensor<f32>, tensor<4x2xf32>, tensor<2xf32>
}
