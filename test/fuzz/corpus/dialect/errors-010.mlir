func.func @matmul_rank(%a: tensor<4xf32>, %b: tensor<4x4xf32>) {
  // expected-error @+1 {{'kiln.matmul' op lhs must have rank >= 2, got 'tensor<4xf32>'}}
  %0 = kiln.matmul %a, %b : tensor<4xf32>, tensor<4x4xf32> -> tensor<4xf32>
  return
}
