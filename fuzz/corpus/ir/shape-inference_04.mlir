// A mismatch that only shows once shapes are known is reported at the layer's NameLoc, and the
// message names the layer. (The relu's result type hides the 784 from the verifier.)
func.func @wrong_kernel(%x: tensor<?x784xf32>, %w: tensor<100x10xf32>) -> tensor<*xf32> {
  %0 = kiln.relu %x : (tensor<?x784xf32>) -> tensor<*xf32> loc("activation")
  %1 = kiln.matmul %0, %w : (tensor<*xf32>, tensor<100x10xf32>) -> tensor<*xf32> loc("dense_1")
  return %1 : tensor<*xf32>
}
