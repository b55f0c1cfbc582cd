func.func @quant_group_splits_a_block() {
  // expected-error @+1 {{'kiln.param' op quant group 48 is neither a multiple of 32 nor all 64 input features}}
  %w = kiln.param "w" quant <bits = 4, group = 48, axis = 0> : tensor<4x64xf32>
  return
}
