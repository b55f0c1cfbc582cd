func.func @relative_bias_table_rank(%t: tensor<32xf32>, %p: tensor<?xi64>) {
  // expected-error @+1 {{'kiln.relative_position_bias' op table must be [num_buckets, heads] (rank 2), got 'tensor<32xf32>'}}
  %0 = kiln.relative_position_bias %t, %p, %p buckets 32 max_distance 128
      : tensor<32xf32>, tensor<?xi64>, tensor<?xi64> -> tensor<1x1x?x?xf32>
  return
}
