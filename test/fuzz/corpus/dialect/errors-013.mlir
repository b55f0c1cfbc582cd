func.func @matmul_batch(%a: tensor<2x4x8xf32>, %b: tensor<3x8x8xf32>) {
  // expected-error @+1 {{batch dim 0 differs: lhs [2, 4, 8], rhs [3, 8, 8]}}
  %0 = kiln.matmul %a, %b : tensor<2x4x8xf32>, tensor<3x8x8xf32> -> tensor<2x4x8xf32>
  return
}
