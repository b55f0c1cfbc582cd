func.func @layer_norm_epsilon(%x: tensor<?x?x768xf32>, %g: tensor<768xf32>) {
  // expected-error @+1 {{epsilon must be finite and non-negative, got -1}}
  %0 = kiln.layer_norm %x scale %g epsilon -1.0 : tensor<?x?x768xf32>, tensor<768xf32>
  return
}
