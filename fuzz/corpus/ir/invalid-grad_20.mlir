func.func @broadcast_like_not_to(%b: tensor<4x16xf32>, %x: tensor<1x16xf32>) -> tensor<1x16xf32> {
  %0 = kiln.broadcast_like %b, %x : (tensor<4x16xf32>, tensor<1x16xf32>) -> tensor<1x16xf32>
  return %0 : tensor<1x16xf32>
}
