func.func @iota_rank(%x: tensor<?x?xi64>) {
  // expected-error @+1 {{result must be 1-D, got 'tensor<?x1xi64>'}}
  %0 = kiln.iota %x dim 1 : tensor<?x?xi64> -> tensor<?x1xi64>
  return
}
