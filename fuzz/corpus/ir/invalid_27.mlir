func.func @concat_dim(%a: tensor<?x8x2xf32>, %b: tensor<?x7x2xf32>) -> tensor<*xf32> {
  %0 = kiln.concat %a, %b : (tensor<?x8x2xf32>, tensor<?x7x2xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}
