func.func @unary_grad_grad_shape(%x: tensor<?x4xf32>, %dy: tensor<?x5xf32>) -> tensor<?x4xf32> {
  %0 = kiln.unary_grad %x, %dy {kind = "relu"}
      : (tensor<?x4xf32>, tensor<?x5xf32>) -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}
