func.func @concat_rank(%a: tensor<4xf32>, %b: tensor<4x1xf32>) {
  // expected-error @+1 {{input 1 has rank 2, input 0 has rank 1}}
  %0 = kiln.concat %a, %b dim 0 : tensor<4xf32>, tensor<4x1xf32> -> tensor<8xf32>
  return
}
