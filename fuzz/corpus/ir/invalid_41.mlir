// Training-mode dropout draws its mask from (seed, step, index): the step is required.
func.func @dropout_training_without_step(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %0 = kiln.dropout %x {rate = 0.5 : f32, training = true} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}
