func.func @quant_axis() {
  // expected-error @+1 {{quant axis must be 0 or 1, got 2}}
  %w = kiln.param "w" quant <bits = 8, group = 64, axis = 2> : tensor<4x64xf32>
  return
}
