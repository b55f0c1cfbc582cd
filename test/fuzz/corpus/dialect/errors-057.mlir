func.func @attention_dynamic_hidden(%q: tensor<?x?x?xf32>) {
  // expected-error @+1 {{query hidden size must be static, got 'tensor<?x?x?xf32>'}}
  %0 = kiln.attention %q, %q, %q heads 12 kv_heads 12 mask none
      : (tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  return
}
