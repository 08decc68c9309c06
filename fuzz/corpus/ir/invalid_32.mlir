// kiln values are f32 tensors; a mixed element type fails the operand constraint first.
func.func @elt_operand(%a: tensor<?x8xf32>, %b: tensor<8xf16>) -> tensor<*xf32> {
  %0 = kiln.add %a, %b : (tensor<?x8xf32>, tensor<8xf16>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}
