func.func @attention_missing_key_mask(%q: tensor<?x?x768xf32>) {
  // expected-error @+1 {{mask kind 'padding' needs a key_mask operand}}
  %0 = kiln.attention %q, %q, %q heads 12 kv_heads 12 mask padding
      : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>) -> tensor<?x?x768xf32>
  return
}
