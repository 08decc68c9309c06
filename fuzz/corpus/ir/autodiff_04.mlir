func.func @no_rule(%a: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %0 = kiln.slice %a {axis = 1 : i64, start = 0 : i64, size = 2 : i64} : (tensor<?x4xf32>) -> tensor<?x2xf32>
  %1 = kiln.reduce_sum %0 {axes = array<i64: 0, 1>} : (tensor<?x2xf32>) -> tensor<f32>
  %g = kiln.grad %1 wrt %a : (tensor<f32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return %g : tensor<?x4xf32>
}
