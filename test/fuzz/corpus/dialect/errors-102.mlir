func.func @prune_threshold() {
  // expected-error @+1 {{prune threshold must be finite and >= 0, got -1}}
  %w = kiln.param "w" prune <threshold = -1.0> : tensor<4x64xf32>
  return
}
