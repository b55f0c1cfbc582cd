func.func @causal_mask_offsets_rank(%s: tensor<?x?xf32>, %p: tensor<?xi64>) {
  // expected-error @+1 {{with offsets, scores must be [batch, ..., q_len, k_len], got 'tensor<?x?xf32>'}}
  %0 = kiln.causal_mask %s offsets %p : tensor<?x?xf32>, tensor<?xi64>
  return
}
