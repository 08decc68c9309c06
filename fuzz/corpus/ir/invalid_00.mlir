// Every verifier message of the kiln dialect, one case each.
//
// A shape error comes from an op's inferReturnTypes (ir/ShapeFunctions.cpp); MLIR's
// InferTypeOpInterface verifier then adds "failed to infer returned types", so those cases
// expect both errors.

// Elementwise ops broadcast NumPy-style from the trailing dimension.
func.func @broadcast(%a: tensor<?x16xf32>, %b: tensor<8xf32>) -> tensor<*xf32> {
  %0 = kiln.add %a, %b : (tensor<?x16xf32>, tensor<8xf32>) -> tensor<*xf32>
  return %0 : tensor<*xf32>
}
