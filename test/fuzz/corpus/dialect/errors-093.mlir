func.func @quant_not_a_matrix() {
  // expected-error @+1 {{'kiln.param' op a quantized weight must be a 2-D float tensor, got 'tensor<64xf32>'}}
  %w = kiln.param "w" quant <bits = 8, group = 64, axis = 0> : tensor<64xf32>
  return
}
