func.func @sub_result_type(%a: tensor<?x3xf32>, %b: tensor<3xf32>) {
  // expected-error @+2 {{'kiln.sub' op inferred type(s) 'tensor<?x3xf32>' are incompatible with return type(s) of operation 'tensor<2x3xf32>'}}
  // expected-error @+1 {{'kiln.sub' op failed to infer returned types}}
  %0 = kiln.sub %a, %b : tensor<?x3xf32>, tensor<3xf32> -> tensor<2x3xf32>
  return
}
