func.func @linear_residual(%x: tensor<?x?x768xf32>, %w: tensor<768x768xf32>, %r: tensor<?x768xf32>) {
  // expected-error @+1 {{residual type 'tensor<?x768xf32>' must equal the result type 'tensor<?x?x768xf32>'}}
  %0 = kiln.linear %x, %w residual %r layout in_out : (tensor<?x?x768xf32>, tensor<768x768xf32>, tensor<?x768xf32>) -> tensor<?x?x768xf32>
  return
}
