func.func @prune_not_a_matrix() {
  // expected-error @+1 {{'kiln.param' op a pruned weight must be a 2-D float tensor, got 'tensor<64xf32>'}}
  %w = kiln.param "w" prune <fraction = 0.5> : tensor<64xf32>
  return
}
