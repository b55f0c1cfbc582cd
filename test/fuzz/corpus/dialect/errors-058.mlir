func.func @attention_head_dim(%q: tensor<?x?x768xf32>) {
  // expected-error @+1 {{query hidden size 768 is not divisible by num_heads 10}}
  %0 = kiln.attention %q, %q, %q heads 10 kv_heads 10 mask none
      : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>) -> tensor<?x?x768xf32>
  return
}
