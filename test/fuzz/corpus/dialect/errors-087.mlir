func.func @relative_bias_distance(%t: tensor<32x8xf32>, %p: tensor<?xi64>) {
  // expected-error @+1 {{max_distance 8 must exceed the exact-bucket range 8}}
  %0 = kiln.relative_position_bias %t, %p, %p bidirectional buckets 32 max_distance 8
      : tensor<32x8xf32>, tensor<?xi64>, tensor<?xi64> -> tensor<1x8x?x?xf32>
  return
}
