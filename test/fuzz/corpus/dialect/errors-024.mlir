func.func @layer_norm_bias(%x: tensor<?x?x768xf32>, %g: tensor<768xf32>, %b: tensor<1x768xf32>) {
  // expected-error @+1 {{bias must be [768] (the normalized last dim), got 'tensor<1x768xf32>'}}
  %0 = kiln.layer_norm %x scale %g bias %b epsilon 1.0e-05 : tensor<?x?x768xf32>, tensor<768xf32>, tensor<1x768xf32>
  return
}
