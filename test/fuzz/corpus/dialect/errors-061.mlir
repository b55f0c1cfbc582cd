func.func @attention_key_type(%q: tensor<?x?x768xf32>, %k: tensor<?x?x768xbf16>) {
  // expected-error @+1 {{query element type 'f32' differs from key element type 'bf16'}}
  %0 = kiln.attention %q, %k, %k heads 12 kv_heads 12 mask none
      : (tensor<?x?x768xf32>, tensor<?x?x768xbf16>, tensor<?x?x768xbf16>) -> tensor<?x?x768xf32>
  return
}
