func.func @reshape_size(%x: tensor<?x4x4xf32>) -> tensor<*xf32> {
  %0 = kiln.reshape %x {shape = array<i64: 3, 5>} : (tensor<?x4x4xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}
