// A declared result type must be compatible with the inferred one.
func.func @declared(%x: tensor<?x4xf32>, %w: tensor<4x16xf32>) -> tensor<?x8xf32> {
  %0 = kiln.matmul %x, %w : (tensor<?x4xf32>, tensor<4x16xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}
