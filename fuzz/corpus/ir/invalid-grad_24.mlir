func.func @slice_result(%x: tensor<?x10xf32>) -> tensor<?x4xf32> {
  %0 = kiln.slice %x {axis = 1 : i64, start = 5 : i64, size = 5 : i64} : (tensor<?x10xf32>) -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}
