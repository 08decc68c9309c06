// A rate of 0 keeps every element, in training too.

func.func @dropout_rate_zero(%x: tensor<?x128xf32>, %step: tensor<i64>) -> tensor<?x128xf32> {
  %0 = kiln.dropout %x, %step {rate = 0.0 : f32, training = true} : (tensor<?x128xf32>, tensor<i64>) -> tensor<?x128xf32>
  return %0 : tensor<?x128xf32>
}
