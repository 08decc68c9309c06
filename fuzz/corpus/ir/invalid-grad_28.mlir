func.func @one_hot_depth(%l: tensor<?xf32>) -> tensor<?x10xf32> {
  %0 = kiln.one_hot %l {depth = 0 : i64} : (tensor<?xf32>) -> tensor<?x10xf32>
  return %0 : tensor<?x10xf32>
}
