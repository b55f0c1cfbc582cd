func.func @compare_broadcast(%a: tensor<2x3xi64>, %b: tensor<2xi64>) {
  // expected-error @+1 {{'kiln.compare' op shapes [2, 3] and [2] are not broadcastable}}
  %0 = kiln.compare eq %a, %b : tensor<2x3xi64>, tensor<2xi64> -> tensor<2x3xi1>
  return
}
