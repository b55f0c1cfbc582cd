func.func @mul_broadcast(%a: tensor<?x3xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{'kiln.mul' op shapes [?, 3] and [4] are not broadcastable}}
  %0 = kiln.mul %a, %b : tensor<?x3xf32>, tensor<4xf32> -> tensor<?x3xf32>
  return
}
