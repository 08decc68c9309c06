// An MLP with two outputs; partially known result types (`?x?`) are refined too.

func.func @mlp(%x: tensor<?x28x28xf32>, %w1: tensor<784x64xf32>, %b1: tensor<64xf32>,
               %w2: tensor<64x10xf32>, %b2: tensor<10xf32>) -> (tensor<*xf32>, tensor<?x?xf32>) {
  %0 = kiln.reshape %x {shape = array<i64: 784>} : (tensor<?x28x28xf32>) -> tensor<*xf32>
  %1 = kiln.matmul %0, %w1 : (tensor<*xf32>, tensor<784x64xf32>) -> tensor<*xf32>
  %2 = kiln.add %1, %b1 : (tensor<*xf32>, tensor<64xf32>) -> tensor<*xf32>
  %3 = kiln.hard_sigmoid %2 : (tensor<*xf32>) -> tensor<?x?xf32>
  %4 = kiln.matmul %3, %w2 : (tensor<?x?xf32>, tensor<64x10xf32>) -> tensor<*xf32>
  %5 = kiln.add %4, %b2 : (tensor<*xf32>, tensor<10xf32>) -> tensor<*xf32>
  %6 = kiln.softmax %5 : (tensor<*xf32>) -> tensor<*xf32>
  return %6, %3 : tensor<*xf32>, tensor<?x?xf32>
}
