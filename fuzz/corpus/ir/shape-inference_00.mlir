// The seed CNN as the frontend emits it before shapes are known: every result is unranked,
// the inputs and weights are typed. Shape inference makes every result ranked, with `?` only
// for the batch, and rewrites the function's result type.

func.func @cnn(%x: tensor<?x28x28x1xf32>,
               %k1: tensor<3x3x1x32xf32>, %b1: tensor<32xf32>,
               %k2: tensor<3x3x32x64xf32>, %b2: tensor<64xf32>,
               %w3: tensor<1600x128xf32>, %b3: tensor<128xf32>,
               %w4: tensor<128x10xf32>, %b4: tensor<10xf32>) -> tensor<*xf32> {
  %0 = kiln.conv2d %x, %k1 : (tensor<?x28x28x1xf32>, tensor<3x3x1x32xf32>) -> tensor<*xf32> loc("conv2d")
  %1 = kiln.add %0, %b1 : (tensor<*xf32>, tensor<32xf32>) -> tensor<*xf32> loc("conv2d")
  %2 = kiln.relu %1 : (tensor<*xf32>) -> tensor<*xf32> loc("conv2d")
  %3 = kiln.max_pool2d %2 {pool_size = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<*xf32>) -> tensor<*xf32> loc("max_pooling2d")
  %4 = kiln.conv2d %3, %k2 : (tensor<*xf32>, tensor<3x3x32x64xf32>) -> tensor<*xf32> loc("conv2d_1")
  %5 = kiln.add %4, %b2 : (tensor<*xf32>, tensor<64xf32>) -> tensor<*xf32> loc("conv2d_1")
  %6 = kiln.relu %5 : (tensor<*xf32>) -> tensor<*xf32> loc("conv2d_1")
  %7 = kiln.max_pool2d %6 {pool_size = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<*xf32>) -> tensor<*xf32> loc("max_pooling2d_1")
  %8 = kiln.reshape %7 {shape = array<i64: -1>} : (tensor<*xf32>) -> tensor<*xf32> loc("flatten")
  %9 = kiln.matmul %8, %w3 : (tensor<*xf32>, tensor<1600x128xf32>) -> tensor<*xf32> loc("dense")
  %10 = kiln.add %9, %b3 : (tensor<*xf32>, tensor<128xf32>) -> tensor<*xf32> loc("dense")
  %11 = kiln.relu %10 : (tensor<*xf32>) -> tensor<*xf32> loc("dense")
  %12 = kiln.dropout %11 {rate = 0.5 : f32} : (tensor<*xf32>) -> tensor<*xf32> loc("dropout")
  %13 = kiln.matmul %12, %w4 : (tensor<*xf32>, tensor<128x10xf32>) -> tensor<*xf32> loc("dense_1")
  %14 = kiln.add %13, %b4 : (tensor<*xf32>, tensor<10xf32>) -> tensor<*xf32> loc("dense_1")
  %15 = kiln.softmax %14 : (tensor<*xf32>) -> tensor<*xf32> loc("dense_1")
  return %15 : tensor<*xf32>
}
