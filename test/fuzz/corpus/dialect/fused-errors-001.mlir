func.func @wrong_arguments(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'kiln.fused' op body takes 0 arguments for 1 inputs}}
  %0 = kiln.fused(%x) : (tensor<4xf32>) -> tensor<4xf32> {
    %c = kiln.constant dense<1.0> : tensor<4xf32>
    kiln.yield %c : tensor<4xf32>
  }
  return %0 : tensor<4xf32>
}
