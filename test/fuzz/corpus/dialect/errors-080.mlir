func.func @rotary_theta(%x: tensor<?x?x4096xf32>, %p: tensor<?x?xi64>) {
  // expected-error @+1 {{theta must be positive and finite, got -1}}
  %0 = kiln.rotary %x, %p heads 32 theta -1.0 : tensor<?x?x4096xf32>, tensor<?x?xi64>
  return
}
