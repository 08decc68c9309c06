// Without a ranked input, the grad gives the result's shape.
func.func @unary_grad_unranked_input(%x: tensor<*xf32>, %dy: tensor<?x4xf32>) -> tensor<?x3xf32> {
  %0 = kiln.unary_grad %x, %dy {kind = "exp"}
      : (tensor<*xf32>, tensor<?x4xf32>) -> tensor<?x3xf32>
  return %0 : tensor<?x3xf32>
}
