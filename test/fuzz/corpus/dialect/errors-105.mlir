func.func @prune_read_by_other_ops() -> tensor<4x64xf32> {
  // expected-error @+1 {{'kiln.param' op pruned weight 'w' may only be the weight of kiln.linear ops}}
  %w = kiln.param "w" prune <fraction = 0.5> : tensor<4x64xf32>
  return %w : tensor<4x64xf32>
}
