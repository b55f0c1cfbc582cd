func.func @attention_bias_type(%q: tensor<?x?x768xf32>, %b: tensor<1x12x?x?xf16>) {
  // expected-error @+1 {{bias element type 'f16' differs from query element type 'f32'}}
  %0 = kiln.attention %q, %q, %q heads 12 kv_heads 12 mask none bias %b
      : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<1x12x?x?xf16>) -> tensor<?x?x768xf32>
  return
}
