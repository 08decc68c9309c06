// The target shape is checked before the input is ranked.
func.func @reshape_unranked_bad(%x: tensor<*xf32>) -> tensor<*xf32> {
  %0 = kiln.reshape %x {shape = array<i64: -1, -1>} : (tensor<*xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}
