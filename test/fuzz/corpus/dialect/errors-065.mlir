func.func @attention_partial_cache(%q: tensor<?x1x768xf32>, %c: tensor<?x64x768xf32>) {
  // expected-error @+1 {{a kv cache needs k_cache, v_cache and positions together}}
  %0:2 = "kiln.attention"(%q, %q, %q, %c) <{num_heads = 12 : i64, num_kv_heads = 12 : i64,
      mask = 1 : i32, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 1, 0, 0>}>
      : (tensor<?x1x768xf32>, tensor<?x1x768xf32>, tensor<?x1x768xf32>, tensor<?x64x768xf32>)
      -> (tensor<?x1x768xf32>, tensor<?x64x768xf32>)
  return
}
