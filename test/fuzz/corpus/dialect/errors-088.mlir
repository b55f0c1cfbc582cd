func.func @relative_bias_positions(%t: tensor<32x8xf32>, %p: tensor<?x?xi64>, %k: tensor<?xi64>) {
  // expected-error @+1 {{query_positions must be [q_len] (rank 1), got 'tensor<?x?xi64>'}}
  %0 = kiln.relative_position_bias %t, %p, %k buckets 32 max_distance 128
      : tensor<32x8xf32>, tensor<?x?xi64>, tensor<?xi64> -> tensor<1x8x?x?xf32>
  return
}
