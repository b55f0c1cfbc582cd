func.func @causal_mask_rank(%s: tensor<?xf32>) {
  // expected-error @+1 {{'kiln.causal_mask' op scores must be [..., q_len, k_len], got 'tensor<?xf32>'}}
  %0 = kiln.causal_mask %s : tensor<?xf32>
  return
}
