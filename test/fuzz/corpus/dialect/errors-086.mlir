func.func @relative_bias_too_few(%t: tensor<2x8xf32>, %p: tensor<?xi64>) {
  // expected-error @+1 {{num_buckets 2 is too small for bidirectional bucketing (needs at least 4)}}
  %0 = kiln.relative_position_bias %t, %p, %p bidirectional buckets 2 max_distance 128
      : tensor<2x8xf32>, tensor<?xi64>, tensor<?xi64> -> tensor<1x8x?x?xf32>
  return
}
