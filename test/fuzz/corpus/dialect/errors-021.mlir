func.func @linear_weight_type(%x: tensor<?x?x768xf32>, %w: tensor<768x768xbf16>) {
  // expected-error @+1 {{input element type 'f32' differs from weight element type 'bf16'}}
  %0 = kiln.linear %x, %w layout in_out : (tensor<?x?x768xf32>, tensor<768x768xbf16>) -> tensor<?x?x768xf32>
  return
}
