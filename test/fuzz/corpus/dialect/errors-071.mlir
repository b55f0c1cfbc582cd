func.func @attention_key_mask_shape(%q: tensor<?x8x768xf32>, %m: tensor<?x7xi64>) {
  // expected-error @+1 {{key_mask must be [batch, key_len] = [?, 8], got 'tensor<?x7xi64>'}}
  %0 = kiln.attention %q, %q, %q heads 12 kv_heads 12 mask padding key_mask %m
      : (tensor<?x8x768xf32>, tensor<?x8x768xf32>, tensor<?x8x768xf32>, tensor<?x7xi64>) -> tensor<?x8x768xf32>
  return
}
