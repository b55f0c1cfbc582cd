func.func @attention_bias_shape(%q: tensor<?x?x768xf32>, %b: tensor<1x8x?x?xf32>) {
  // expected-error @+1 {{bias [1, 8, ?, ?] does not broadcast to [batch, num_heads, q_len, k_len] = [?, 12, ?, ?]}}
  %0 = kiln.attention %q, %q, %q heads 12 kv_heads 12 mask none bias %b
      : (tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<?x?x768xf32>, tensor<1x8x?x?xf32>) -> tensor<?x?x768xf32>
  return
}
