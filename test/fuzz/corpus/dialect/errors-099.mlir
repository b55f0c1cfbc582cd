func.func @prune_n_not_below_m() {
  // expected-error @+1 {{prune needs 0 < n < m, got n = 4, m = 4}}
  %w = kiln.param "w" prune <n = 4, m = 4, axis = 1> : tensor<4x64xf32>
  return
}
