func.func @quant_group() {
  // expected-error @+1 {{quant group must be positive, got 0}}
  %w = kiln.param "w" quant <bits = 8, group = 0, axis = 0> : tensor<4x64xf32>
  return
}
