func.func @no_yield(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'kiln.fused' op body must end in kiln.yield}}
  %0 = kiln.fused(%x) : (tensor<4xf32>) -> tensor<4xf32> {
  ^bb0(%a: tensor<4xf32>):
    %c = kiln.neg %a : tensor<4xf32>
  }
  return %0 : tensor<4xf32>
}
