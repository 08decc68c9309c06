// Reshape / Flatten.
func.func @reshape_two_unknown(%x: tensor<?x4x4xf32>) -> tensor<*xf32> {
  %0 = kiln.reshape %x {shape = array<i64: -1, -1>} : (tensor<?x4x4xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}
