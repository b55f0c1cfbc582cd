func.func @param_parts_empty() -> tensor<4x8xf32> {
  // expected-error @+1 {{'kiln.param' op parts must name at least one tensor of rank >= 1}}
  %w = kiln.param "merged" parts [] : tensor<4x8xf32>
  return %w : tensor<4x8xf32>
}
