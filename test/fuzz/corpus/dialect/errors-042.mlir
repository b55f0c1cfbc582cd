func.func @slice_dim(%x: tensor<?x64xf32>) {
  // expected-error @+1 {{'kiln.slice' op dim 2 is out of range for rank 2}}
  %0 = kiln.slice %x dim 2 [0 : 32] : tensor<?x64xf32> -> tensor<?x32xf32>
  return
}
