// The generic form can give a constant a type other than its value's.
func.func @const_type() -> tensor<3xf32> {
  %0 = "kiln.constant"() <{value = dense<1.0> : tensor<4xf32>}> : () -> tensor<3xf32>
  return %0 : tensor<3xf32>
}
