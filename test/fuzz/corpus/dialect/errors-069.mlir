func.func @attention_unused_key_mask(%q: tensor<?x?x768xf32>, %m: tensor<?x?xi64>) {
  // expected-error @+1 {{key_mask given but mask kind 'causal' does not use one}}
  %0 = kiln.attention %q, %q, %q heads 12 kv_heads 12 mask causal key_mask %m
      : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?xi64>) -> tensor<?x?x768xf32>
  return
}
