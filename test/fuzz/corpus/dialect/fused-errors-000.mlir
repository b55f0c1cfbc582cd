func.func @wrong_yield(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'kiln.fused' op yields 'tensor<4xf16>', the results are 'tensor<4xf32>'}}
  %0 = kiln.fused(%x) : (tensor<4xf32>) -> tensor<4xf32> {
  ^bb0(%a: tensor<4xf32>):
    %c = kiln.cast %a : tensor<4xf32> -> tensor<4xf16>
    kiln.yield %c : tensor<4xf16>
  }
  return %0 : tensor<4xf32>
}
