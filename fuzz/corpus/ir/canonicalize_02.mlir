// In training, dropout stays.

func.func @dropout_training(%x: tensor<?x128xf32>, %step: tensor<i64>) -> tensor<?x128xf32> {
  %0 = kiln.dropout %x, %step {rate = 0.5 : f32, seed = 7 : i64, training = true} : (tensor<?x128xf32>, tensor<i64>) -> tensor<?x128xf32>
  return %0 : tensor<?x128xf32>
}
