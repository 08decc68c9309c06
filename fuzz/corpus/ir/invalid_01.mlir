// Dense: the input's last axis must match the kernel's first.
func.func @matmul_k(%x: tensor<?x4xf32>, %w: tensor<5x16xf32>) -> tensor<*xf32> {
  %0 = kiln.matmul %x, %w : (tensor<?x4xf32>, tensor<5x16xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}
