func.func @attention_heads_positive(%q: tensor<?x?x768xf32>) {
  // expected-error @+1 {{num_heads (12) and num_kv_heads (0) must be positive}}
  %0 = kiln.attention %q, %q, %q heads 12 kv_heads 0 mask none
      : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>) -> tensor<?x?x768xf32>
  return
}
