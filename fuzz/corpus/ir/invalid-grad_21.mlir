func.func @broadcast_like_result(%b: tensor<16xf32>, %x: tensor<?x16xf32>) -> tensor<?x8xf32> {
  %0 = kiln.broadcast_like %b, %x : (tensor<16xf32>, tensor<?x16xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}
