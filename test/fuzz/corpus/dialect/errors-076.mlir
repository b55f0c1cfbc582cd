func.func @rotary_rank(%x: tensor<?x?x32x128xf32>, %p: tensor<?x?xi64>) {
  // expected-error @+1 {{'kiln.rotary' op input must be [batch, seq, heads * head_dim] (rank 3), got 'tensor<?x?x32x128xf32>'}}
  %0 = kiln.rotary %x, %p heads 32 theta 1.0e+04 : tensor<?x?x32x128xf32>, tensor<?x?xi64>
  return
}
