func.func @attention_value_hidden(%q: tensor<?x?x768xf32>, %k: tensor<?x?x256xf32>, %v: tensor<?x?x768xf32>) {
  // expected-error @+1 {{value hidden size 768 must be num_kv_heads * head_dim = 256}}
  %0 = kiln.attention %q, %k, %v heads 12 kv_heads 4 mask none
      : (tensor<?x?x768xf32>, tensor<?x?x256xf32>, tensor<?x?x768xf32>) -> tensor<?x?x768xf32>
  return
}
