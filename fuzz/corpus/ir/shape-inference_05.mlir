// A declared result type that contradicts the inferred one.
func.func @contradicting_declared_type(%x: tensor<?x784xf32>, %w: tensor<784x10xf32>) -> tensor<?x12xf32> {
  %0 = kiln.relu %x : (tensor<?x784xf32>) -> tensor<*xf32>
  %1 = kiln.matmul %0, %w : (tensor<*xf32>, tensor<784x10xf32>) -> tensor<?x12xf32>
  return %1 : tensor<?x12xf32>
}
