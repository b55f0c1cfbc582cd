func.func @prune_fraction() {
  // expected-error @+1 {{prune fraction must be in [0, 1), got 1.5}}
  %w = kiln.param "w" prune <fraction = 1.5> : tensor<4x64xf32>
  return
}
