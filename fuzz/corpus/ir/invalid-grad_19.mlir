func.func @broadcast_like_incompatible(%b: tensor<8xf32>, %x: tensor<?x16xf32>) -> tensor<?x16xf32> {
  %0 = kiln.broadcast_like %b, %x : (tensor<8xf32>, tensor<?x16xf32>) -> tensor<?x16xf32>
  return %0 : tensor<?x16xf32>
}
