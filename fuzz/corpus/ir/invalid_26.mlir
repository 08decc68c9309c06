func.func @concat_rank(%a: tensor<?x8xf32>, %b: tensor<?x8x1xf32>) -> tensor<*xf32> {
  %0 = kiln.concat %a, %b : (tensor<?x8xf32>, tensor<?x8x1xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}
