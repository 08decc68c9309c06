func.func @pool_grad_grad_shape(%x: tensor<?x4x4x2xf32>, %dy: tensor<?x3x3x2xf32>) -> tensor<?x4x4x2xf32> {
  %0 = kiln.pool2d_grad %x, %dy {kind = "avg", pool_size = array<i64: 2, 2>, strides = array<i64: 2, 2>}
      : (tensor<?x4x4x2xf32>, tensor<?x3x3x2xf32>) -> tensor<?x4x4x2xf32>
  return %0 : tensor<?x4x4x2xf32>
}
