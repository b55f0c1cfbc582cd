func.func @linear_input_rank(%x: tensor<768xf32>, %w: tensor<768x768xf32>) {
  // expected-error @+1 {{'kiln.linear' op input must have rank >= 2 ([..., tokens, features]), got 'tensor<768xf32>'}}
  %0 = kiln.linear %x, %w layout in_out : (tensor<768xf32>, tensor<768x768xf32>) -> tensor<768xf32>
  return
}
