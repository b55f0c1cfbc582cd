func.func @quant_bits() {
  // expected-error @+1 {{quant bits must be 8 or 4, got 3}}
  %w = kiln.param "w" quant <bits = 3, group = 64, axis = 0> : tensor<4x64xf32>
  return
}
