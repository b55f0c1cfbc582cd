func.func @attention_cache_rank(%q: tensor<?x1x768xf32>, %c: tensor<?x12x64x64xf32>, %p: tensor<?xi64>) {
  // expected-error @+1 {{k_cache must be [batch, max_seq, width] (rank 3), got 'tensor<?x12x64x64xf32>'}}
  %0:3 = kiln.attention %q, %q, %q heads 12 kv_heads 12 mask causal cache(%c, %c, %p)
      : (tensor<?x1x768xf32>, tensor<?x1x768xf32>, tensor<?x1x768xf32>, tensor<?x12x64x64xf32>, tensor<?x12x64x64xf32>, tensor<?xi64>)
      -> (tensor<?x1x768xf32>, tensor<?x12x64x64xf32>, tensor<?x12x64x64xf32>)
  return
}
