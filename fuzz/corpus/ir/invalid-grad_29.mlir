func.func @one_hot_labels(%l: tensor<?x2xf32>) -> tensor<?x10xf32> {
  %0 = kiln.one_hot %l {depth = 10 : i64} : (tensor<?x2xf32>) -> tensor<?x10xf32>
  return %0 : tensor<?x10xf32>
}
