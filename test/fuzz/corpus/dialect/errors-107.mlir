func.func @keep_not_ascending() {
  // expected-error @+1 {{keep indices must be ascending and >= 0}}
  %w = kiln.param "w" keep <axis = 0, indices = [3, 1]> : tensor<2x8xf32>
  return
}
