func.func @reshape_count(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{element count differs: [4, 8] has 32, [30] has 30}}
  %0 = kiln.reshape %x : tensor<4x8xf32> -> tensor<30xf32>
  return
}
