func.func @iota_dim(%x: tensor<?x?xi64>) {
  // expected-error @+1 {{'kiln.iota' op dim 2 is out of range for rank 2}}
  %0 = kiln.iota %x dim 2 : tensor<?x?xi64> -> tensor<?xi64>
  return
}
