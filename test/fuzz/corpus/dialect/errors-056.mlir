func.func @attention_gqa_groups(%q: tensor<?x?x768xf32>) {
  // expected-error @+1 {{num_heads (12) must be a multiple of num_kv_heads (5)}}
  %0 = kiln.attention %q, %q, %q heads 12 kv_heads 5 mask none
      : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>) -> tensor<?x?x768xf32>
  return
}
