// Keras rejects a dropout rate outside [0, 1); 1 would scale by 1 / 0.
func.func @dropout_rate(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %0 = kiln.dropout %x {rate = 1.5 : f32} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}
