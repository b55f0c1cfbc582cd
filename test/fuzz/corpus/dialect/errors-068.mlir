func.func @attention_cache_types(%q: tensor<?x1x768xf32>, %kc: tensor<?x64x768xf32>, %vc: tensor<?x32x768xf32>, %p: tensor<?xi64>) {
  // expected-error @+1 {{k_cache 'tensor<?x64x768xf32>' and v_cache 'tensor<?x32x768xf32>' must have the same type}}
  %0:3 = kiln.attention %q, %q, %q heads 12 kv_heads 12 mask causal cache(%kc, %vc, %p)
      : (tensor<?x1x768xf32>, tensor<?x1x768xf32>, tensor<?x1x768xf32>, tensor<?x64x768xf32>, tensor<?x32x768xf32>, tensor<?xi64>)
      -> (tensor<?x1x768xf32>, tensor<?x64x768xf32>, tensor<?x32x768xf32>)
  return
}
