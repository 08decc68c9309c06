// Not a test on its own (lit.local.cfg excludes Inputs): a matmul whose inner dims disagree.
func.func @predict(%x: tensor<?x4xf32>, %w: tensor<5x3xf32>) -> tensor<?x3xf32> {
  %0 = kiln.matmul %x, %w : (tensor<?x4xf32>, tensor<5x3xf32>) -> tensor<?x3xf32>
  return %0 : tensor<?x3xf32>
}
