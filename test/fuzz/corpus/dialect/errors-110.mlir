func.func @keep_with_parts() {
  // expected-error @+1 {{'kiln.param' op keep cannot be combined with parts}}
  %w = kiln.param "w" parts ["a", "b"] keep <axis = 0, indices = [0, 1]> : tensor<2x8xf32>
  return
}
