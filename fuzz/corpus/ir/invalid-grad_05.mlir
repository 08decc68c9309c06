func.func @unary_grad_result_shape(%x: tensor<?x4xf32>) -> tensor<?x3xf32> {
  %0 = kiln.unary_grad %x, %x {kind = "tanh"}
      : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x3xf32>
  return %0 : tensor<?x3xf32>
}
