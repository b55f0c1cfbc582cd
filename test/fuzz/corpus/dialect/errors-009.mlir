func.func @select_condition(%c: tensor<5xi1>, %a: tensor<4xf32>) {
  // expected-error @+1 {{'kiln.select' op shapes [5] and [4] are not broadcastable}}
  %0 = kiln.select %c, %a, %a : tensor<5xi1>, tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>
  return
}
