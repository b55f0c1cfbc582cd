func.func @matmul_element_type(%a: tensor<4x8xf32>, %b: tensor<8x8xbf16>) {
  // expected-error @+1 {{lhs element type 'f32' differs from rhs element type 'bf16'}}
  %0 = kiln.matmul %a, %b : tensor<4x8xf32>, tensor<8x8xbf16> -> tensor<4x8xf32>
  return
}
