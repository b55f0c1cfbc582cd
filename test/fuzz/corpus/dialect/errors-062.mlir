func.func @attention_value_type(%q: tensor<?x?x768xf32>, %v: tensor<?x?x768xf16>) {
  // expected-error @+1 {{query element type 'f32' differs from value element type 'f16'}}
  %0 = kiln.attention %q, %q, %v heads 12 kv_heads 12 mask none
      : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf16>) -> tensor<?x?x768xf32>
  return
}
