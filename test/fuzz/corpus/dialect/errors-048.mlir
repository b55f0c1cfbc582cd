func.func @causal_mask_offsets(%s: tensor<2x4x1x8xf32>, %p: tensor<3xi64>) {
  // expected-error @+1 {{offsets must be [batch] = [[2]], got 'tensor<3xi64>'}}
  %0 = kiln.causal_mask %s offsets %p : tensor<2x4x1x8xf32>, tensor<3xi64>
  return
}
