func.func @param_part_unnamed() -> tensor<4x8xf32> {
  // expected-error @+1 {{'kiln.param' op needs non-empty part names}}
  %w = kiln.param "merged" parts ["a", ""] : tensor<4x8xf32>
  return %w : tensor<4x8xf32>
}
