func.func @reduce_dim_order(%x: tensor<?x8x4xf32>) {
  // expected-error @+1 {{reduced dims must be distinct and increasing, got [2, 1]}}
  %0 = kiln.reduce sum %x dims [2, 1] : tensor<?x8x4xf32> -> tensor<?xf32>
  return
}
