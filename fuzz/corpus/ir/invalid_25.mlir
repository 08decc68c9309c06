// Concatenate.
func.func @concat_none() -> tensor<*xf32> {
  %0 = kiln.concat : () -> tensor<*xf32>
  return %0 : tensor<*xf32>
}
