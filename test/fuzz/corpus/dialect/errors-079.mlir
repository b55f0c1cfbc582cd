func.func @rotary_positions(%x: tensor<?x8x4096xf32>, %p: tensor<?x9xi64>) {
  // expected-error @+1 {{positions must be [batch, seq] = [?, 8] or [seq], got 'tensor<?x9xi64>'}}
  %0 = kiln.rotary %x, %p heads 32 theta 1.0e+04 : tensor<?x8x4096xf32>, tensor<?x9xi64>
  return
}
