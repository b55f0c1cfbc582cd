func.func @attention_cache_results(%q: tensor<?x?x768xf32>) {
  // expected-error @+1 {{returns 2 updated caches but has no kv cache (expected 0)}}
  %0:3 = kiln.attention %q, %q, %q heads 12 kv_heads 12 mask causal
      : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>)
      -> (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>)
  return
}
