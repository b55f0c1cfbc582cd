func.func @no_result(%x: tensor<4xf32>) {
  // expected-error @+1 {{'kiln.fused' op has no result}}
  kiln.fused(%x) : (tensor<4xf32>) -> () {
  ^bb0(%a: tensor<4xf32>):
    "kiln.yield"() : () -> ()
  }
  return
}
