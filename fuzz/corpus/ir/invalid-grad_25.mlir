func.func @compare_predicate(%a: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %0 = kiln.compare %a, %a {predicate = "gte"} : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}
