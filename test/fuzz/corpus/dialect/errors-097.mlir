func.func @quant_axis_not_the_output_dim(%x: tensor<2x64xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{'kiln.param' op quant axis 1 is not the output-channel dim (0) of its linear's layout}}
  %w = kiln.param "w" quant <bits = 8, group = 64, axis = 1> : tensor<4x64xf32>
  %y = kiln.linear %x, %w layout out_in : (tensor<2x64xf32>, tensor<4x64xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}
