func.func @rotary_odd_head_dim(%x: tensor<?x?x96xf32>, %p: tensor<?x?xi64>) {
  // expected-error @+1 {{hidden size [96] must be num_heads (32) times an even head_dim}}
  %0 = kiln.rotary %x, %p heads 32 theta 1.0e+04 : tensor<?x?x96xf32>, tensor<?x?xi64>
  return
}
