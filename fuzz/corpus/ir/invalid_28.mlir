func.func @concat_axis(%a: tensor<?x8xf32>, %b: tensor<?x8xf32>) -> tensor<*xf32> {
  %0 = kiln.concat %a, %b {axis = 2 : i64} : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}
