// The op after an inference dropout reads the dropout's input.

func.func @dropout_between_layers(%x: tensor<?x128xf32>, %w: tensor<128x10xf32>) -> tensor<?x10xf32> {
  %0 = kiln.dropout %x {rate = 0.2 : f32} : (tensor<?x128xf32>) -> tensor<?x128xf32>
  %1 = kiln.matmul %0, %w : (tensor<?x128xf32>, tensor<128x10xf32>) -> tensor<?x10xf32>
  return %1 : tensor<?x10xf32>
}
