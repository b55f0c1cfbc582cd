func.func @reduce_dim_range(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{reduced dim 2 is out of range for rank 2}}
  %0 = kiln.reduce sum %x dims [2] : tensor<?x8xf32> -> tensor<?x8xf32>
  return
}
