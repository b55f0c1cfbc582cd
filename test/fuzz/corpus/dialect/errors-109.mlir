func.func @keep_axis() {
  // expected-error @+1 {{'kiln.param' op keep axis 2 is out of range for 'tensor<2x8xf32>'}}
  %w = kiln.param "w" keep <axis = 2, indices = [0, 1]> : tensor<2x8xf32>
  return
}
