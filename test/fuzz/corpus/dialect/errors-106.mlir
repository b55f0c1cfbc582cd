func.func @prune_axis_not_the_input_dim(%x: tensor<2x64xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{'kiln.param' op prune axis 0 is not the input-feature dim (1) of its linear's layout}}
  %w = kiln.param "w" prune <n = 2, m = 4, axis = 0> : tensor<4x64xf32>
  %y = kiln.linear %x, %w layout out_in : (tensor<2x64xf32>, tensor<4x64xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}
