func.func @softmax_axis(%x: tensor<?x8xf32>) -> tensor<*xf32> {
  %0 = kiln.softmax %x {axis = 2 : i64} : (tensor<?x8xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}
