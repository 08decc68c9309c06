// Declared types that are already as static as the inferred ones stay, and a batch
// specialised by the caller (32) is kept.

func.func @keeps_specialised_batch(%x: tensor<32x4xf32>, %w: tensor<4x10xf32>) -> tensor<32x10xf32> {
  %0 = kiln.matmul %x, %w : (tensor<32x4xf32>, tensor<4x10xf32>) -> tensor<32x10xf32>
  return %0 : tensor<32x10xf32>
}
