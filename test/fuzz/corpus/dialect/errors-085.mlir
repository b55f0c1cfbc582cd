func.func @relative_bias_buckets(%t: tensor<32x8xf32>, %p: tensor<?xi64>) {
  // expected-error @+1 {{table has 32 rows but num_buckets is 16}}
  %0 = kiln.relative_position_bias %t, %p, %p buckets 16 max_distance 128
      : tensor<32x8xf32>, tensor<?xi64>, tensor<?xi64> -> tensor<1x8x?x?xf32>
  return
}
