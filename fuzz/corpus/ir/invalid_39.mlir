func.func @dropout_no_rate(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %0 = kiln.dropout %x : (tensor<?x8xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}
