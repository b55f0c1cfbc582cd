func.func @quant_read_by_other_ops() -> tensor<4x64xf32> {
  // expected-error @+1 {{'kiln.param' op quantized weight 'w' may only be the weight of kiln.linear ops}}
  %w = kiln.param "w" quant <bits = 8, group = 64, axis = 0> : tensor<4x64xf32>
  return %w : tensor<4x64xf32>
}
