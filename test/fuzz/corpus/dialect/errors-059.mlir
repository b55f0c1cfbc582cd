func.func @attention_key_hidden(%q: tensor<?x?x768xf32>, %k: tensor<?x?x768xf32>) {
  // expected-error @+1 {{key hidden size 768 must be num_kv_heads * head_dim = 4 * 64 = 256}}
  %0 = kiln.attention %q, %k, %k heads 12 kv_heads 4 mask none
      : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>) -> tensor<?x?x768xf32>
  return
}
