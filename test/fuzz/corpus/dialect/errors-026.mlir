func.func @layer_norm_rank(%x: tensor<f32>, %g: tensor<1xf32>) {
  // expected-error @+1 {{'kiln.layer_norm' op input must have rank >= 1}}
  %0 = kiln.layer_norm %x scale %g epsilon 1.0e-05 : tensor<f32>, tensor<1xf32>
  return
}
