func.func @reshape_divisible(%x: tensor<?x4x4xf32>) -> tensor<*xf32> {
  %0 = kiln.reshape %x {shape = array<i64: -1, 5>} : (tensor<?x4x4xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}
