func.func @one_hot_result(%l: tensor<?xf32>) -> tensor<?x9xf32> {
  %0 = kiln.one_hot %l {depth = 10 : i64} : (tensor<?xf32>) -> tensor<?x9xf32>
  return %0 : tensor<?x9xf32>
}
