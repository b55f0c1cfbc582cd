func.func @linear_bias(%x: tensor<?x?x768xf32>, %w: tensor<768x3072xf32>, %b: tensor<768xf32>) {
  // expected-error @+1 {{bias must be [3072], got 'tensor<768xf32>'}}
  %0 = kiln.linear %x, %w bias %b layout in_out : (tensor<?x?x768xf32>, tensor<768x3072xf32>, tensor<768xf32>) -> tensor<?x?x3072xf32>
  return
}
