func.func @rms_norm_scale_type(%x: tensor<?x?x512xf32>, %g: tensor<512xbf16>) {
  // expected-error @+1 {{'kiln.rms_norm' op scale element type 'bf16' differs from input element type 'f32'}}
  %0 = kiln.rms_norm %x scale %g epsilon 1.0e-06 : tensor<?x?x512xf32>, tensor<512xbf16>
  return
}
