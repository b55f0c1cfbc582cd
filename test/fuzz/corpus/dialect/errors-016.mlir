func.func @linear_weight_rank(%x: tensor<?x768xf32>, %w: tensor<768xf32>) {
  // expected-error @+1 {{weight must be [out, in] (rank 2), got 'tensor<768xf32>'}}
  %0 = kiln.linear %x, %w layout out_in : (tensor<?x768xf32>, tensor<768xf32>) -> tensor<?x768xf32>
  return
}
