func.func @slice_range(%x: tensor<?x64xf32>) {
  // expected-error @+1 {{needs 0 <= start < end, got [32 : 32]}}
  %0 = kiln.slice %x dim 1 [32 : 32] : tensor<?x64xf32> -> tensor<?x0xf32>
  return
}
