// Unused kiln ops are pure and go away; identical constants are merged.

func.func @pure_ops(%x: tensor<?x4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %0 = kiln.relu %x : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %a = kiln.constant dense<1.0> : tensor<4xf32>
  %b = kiln.constant dense<1.0> : tensor<4xf32>
  return %a, %b : tensor<4xf32>, tensor<4xf32>
}
