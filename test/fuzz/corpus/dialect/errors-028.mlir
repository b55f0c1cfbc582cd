func.func @reduce_no_dims(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{'kiln.reduce' op needs at least one dim to reduce}}
  %0 = kiln.reduce sum %x dims [] : tensor<?x8xf32> -> tensor<?x8xf32>
  return
}
