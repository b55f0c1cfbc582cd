func.func @slice_step(%x: tensor<?x64xf32>) {
  // expected-error @+1 {{step must be positive, got 0}}
  %0 = kiln.slice %x dim 1 [0 : 32 : 0] : tensor<?x64xf32> -> tensor<?x32xf32>
  return
}
