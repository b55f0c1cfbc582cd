func.func @attention_cache_not_causal(%q: tensor<?x1x768xf32>, %c: tensor<?x64x768xf32>, %p: tensor<?xi64>) {
  // expected-error @+1 {{a kv cache needs a causal mask kind, got 'none'}}
  %0:3 = kiln.attention %q, %q, %q heads 12 kv_heads 12 mask none cache(%c, %c, %p)
      : (tensor<?x1x768xf32>, tensor<?x1x768xf32>, tensor<?x1x768xf32>, tensor<?x64x768xf32>, tensor<?x64x768xf32>, tensor<?xi64>)
      -> (tensor<?x1x768xf32>, tensor<?x64x768xf32>, tensor<?x64x768xf32>)
  return
}
