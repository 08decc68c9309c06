func.func @declared_rank(%x: tensor<?x4xf32>) -> tensor<?x4x1xf32> {
  %0 = kiln.relu %x : (tensor<?x4xf32>) -> tensor<?x4x1xf32>
  return %0 : tensor<?x4x1xf32>
}
