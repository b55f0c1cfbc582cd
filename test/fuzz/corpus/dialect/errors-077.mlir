func.func @rotary_heads(%x: tensor<?x?x4096xf32>, %p: tensor<?x?xi64>) {
  // expected-error @+1 {{num_heads must be positive, got 0}}
  %0 = kiln.rotary %x, %p heads 0 theta 1.0e+04 : tensor<?x?x4096xf32>, tensor<?x?xi64>
  return
}
