func.func @keep_count() {
  // expected-error @+1 {{'kiln.param' op keep lists 3 indices, but dim 0 of 'tensor<2x8xf32>' has 2}}
  %w = kiln.param "w" keep <axis = 0, indices = [0, 1, 5]> : tensor<2x8xf32>
  return
}
