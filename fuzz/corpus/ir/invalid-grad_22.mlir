func.func @slice_axis(%x: tensor<?x10xf32>) -> tensor<?x5xf32> {
  %0 = kiln.slice %x {axis = 2 : i64, start = 0 : i64, size = 5 : i64} : (tensor<?x10xf32>) -> tensor<?x5xf32>
  return %0 : tensor<?x5xf32>
}
