func.func @quant_as_linear_input(%w2: tensor<4x64xf32>) -> tensor<4x4xf32> {
  // expected-error @+1 {{'kiln.param' op quantized weight 'w' may only be the weight of kiln.linear ops}}
  %w = kiln.param "w" quant <bits = 8, group = 64, axis = 0> : tensor<4x64xf32>
  %y = kiln.linear %w, %w2 layout out_in : (tensor<4x64xf32>, tensor<4x64xf32>) -> tensor<4x4xf32>
  return %y : tensor<4x4xf32>
}
