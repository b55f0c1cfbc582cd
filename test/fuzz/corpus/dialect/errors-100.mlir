func.func @prune_axis() {
  // expected-error @+1 {{prune axis must be 0 or 1, got 2}}
  %w = kiln.param "w" prune <n = 2, m = 4, axis = 2> : tensor<4x64xf32>
  return
}
