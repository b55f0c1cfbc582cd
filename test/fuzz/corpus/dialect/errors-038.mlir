func.func @concat_dim(%a: tensor<4xf32>) {
  // expected-error @+1 {{'kiln.concat' op dim 1 is out of range for rank 1}}
  %0 = kiln.concat %a, %a dim 1 : tensor<4xf32>, tensor<4xf32> -> tensor<8xf32>
  return
}
