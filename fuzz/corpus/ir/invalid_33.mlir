func.func @elt_result(%a: tensor<?x8xf32>) -> tensor<?x8xf16> {
  %0 = kiln.relu %a : (tensor<?x8xf32>) -> tensor<?x8xf16>
  return %0 : tensor<?x8xf16>
}
