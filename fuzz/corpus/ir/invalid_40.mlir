// A NameLoc names the Keras layer; the message repeats it, so it survives a location printer
// that shows only files and lines.
func.func @layer_name(%x: tensor<?x4xf32>, %w: tensor<5x16xf32>) -> tensor<*xf32> {
  %0 = kiln.matmul %x, %w : (tensor<?x4xf32>, tensor<5x16xf32>) -> tensor<*xf32> loc("dense_1")
  return %0 : tensor<*xf32>
}
