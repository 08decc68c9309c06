func.func @const_elt() -> tensor<4xf64> {
  %0 = kiln.constant dense<1.0> : tensor<4xf64>
  return %0 : tensor<4xf64>
}
