// Dropout is the identity at inference (every @predict has training = false).

func.func @dropout_inference(%x: tensor<?x128xf32>) -> tensor<?x128xf32> {
  %0 = kiln.dropout %x {rate = 0.5 : f32, seed = 7 : i64} : (tensor<?x128xf32>) -> tensor<?x128xf32>
  return %0 : tensor<?x128xf32>
}
