func.func @matmul_contraction(%a: tensor<?x4x768xf32>, %b: tensor<?x512x8xf32>) {
  // expected-error @+1 {{contraction dims differ: lhs [?, 4, 768] has K = 768, rhs [?, 512, 8] has K = 512}}
  %0 = kiln.matmul %a, %b : tensor<?x4x768xf32>, tensor<?x512x8xf32> -> tensor<?x4x8xf32>
  return
}
