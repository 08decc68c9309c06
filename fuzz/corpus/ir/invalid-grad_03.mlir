func.func @unary_grad_kind(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %0 = kiln.unary_grad %x, %x {kind = "softmax"}
      : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}
