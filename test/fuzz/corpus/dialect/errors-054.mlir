func.func @attention_rank(%q: tensor<?x12x?x64xf32>, %k: tensor<?x?x768xf32>) {
  // expected-error @+1 {{'kiln.attention' op query must be [batch, seq, heads * head_dim] (rank 3), got 'tensor<?x12x?x64xf32>'}}
  %0 = kiln.attention %q, %k, %k heads 12 kv_heads 12 mask none
      : (tensor<?x12x?x64xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>) -> tensor<?x12x?x64xf32>
  return
}
