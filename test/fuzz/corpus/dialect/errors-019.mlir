func.func @linear_bias_type(%x: tensor<?x?x768xf32>, %w: tensor<768x3072xf32>, %b: tensor<3072xf16>) {
  // expected-error @+1 {{bias element type 'f16' differs from input element type 'f32'}}
  %0 = kiln.linear %x, %w bias %b layout in_out : (tensor<?x?x768xf32>, tensor<768x3072xf32>, tensor<3072xf16>) -> tensor<?x?x3072xf32>
  return
}
