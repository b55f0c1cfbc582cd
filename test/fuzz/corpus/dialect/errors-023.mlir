func.func @layer_norm_scale(%x: tensor<?x?x768xf32>, %g: tensor<512xf32>) {
  // expected-error @+1 {{'kiln.layer_norm' op scale must be [768] (the normalized last dim), got 'tensor<512xf32>'}}
  %0 = kiln.layer_norm %x scale %g epsilon 1.0e-05 : tensor<?x?x768xf32>, tensor<512xf32>
  return
}
