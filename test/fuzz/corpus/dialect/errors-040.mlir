func.func @concat_element_type(%a: tensor<4xf32>, %b: tensor<4xf16>) {
  // expected-error @+1 {{input 0 element type 'f32' differs from input 1 element type 'f16'}}
  %0 = kiln.concat %a, %b dim 0 : tensor<4xf32>, tensor<4xf16> -> tensor<8xf32>
  return
}
