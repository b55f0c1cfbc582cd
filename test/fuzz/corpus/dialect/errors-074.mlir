func.func @attention_scale(%q: tensor<?x?x768xf32>) {
  // expected-error @+1 {{scale must be positive and finite, got 0}}
  %0 = kiln.attention %q, %q, %q heads 12 kv_heads 12 mask none scale 0.0
      : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>) -> tensor<?x?x768xf32>
  return
}
