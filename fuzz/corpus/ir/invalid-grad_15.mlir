func.func @pool_grad_kind(%x: tensor<?x4x4x2xf32>, %dy: tensor<?x2x2x2xf32>) -> tensor<?x4x4x2xf32> {
  %0 = kiln.pool2d_grad %x, %dy {kind = "min", pool_size = array<i64: 2, 2>, strides = array<i64: 2, 2>}
      : (tensor<?x4x4x2xf32>, tensor<?x2x2x2xf32>) -> tensor<?x4x4x2xf32>
  return %0 : tensor<?x4x4x2xf32>
}
