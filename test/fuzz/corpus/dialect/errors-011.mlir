func.func @matmul_rhs_rank(%a: tensor<2x3x4x5xf32>, %b: tensor<3x5x6xf32>) {
  // expected-error @+1 {{rhs rank 3 must equal the lhs rank 4 or be 2 (shared by every batch)}}
  %0 = kiln.matmul %a, %b : tensor<2x3x4x5xf32>, tensor<3x5x6xf32> -> tensor<2x3x4x6xf32>
  return
}
