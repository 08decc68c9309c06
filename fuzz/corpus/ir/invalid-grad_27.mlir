func.func @compare_result(%a: tensor<?x4xf32>, %b: tensor<f32>) -> tensor<?x3xf32> {
  %0 = kiln.compare %a, %b {predicate = "eq"} : (tensor<?x4xf32>, tensor<f32>) -> tensor<?x3xf32>
  return %0 : tensor<?x3xf32>
}
