func.func @reshape_scalar(%x: tensor<f32>) -> tensor<*xf32> {
  %0 = kiln.reshape %x {shape = array<i64: 1>} : (tensor<f32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}
