func.func @linear_in_features(%x: tensor<?x?x768xf32>, %w: tensor<3072x512xf32>) {
  // expected-error @+1 {{input features 768 differ from the weight's in_features 512 (layout out_in, weight [3072, 512])}}
  %0 = kiln.linear %x, %w layout out_in : (tensor<?x?x768xf32>, tensor<3072x512xf32>) -> tensor<?x?x3072xf32>
  return
}
