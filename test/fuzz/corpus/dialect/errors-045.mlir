func.func @slice_end(%x: tensor<?x64xf32>) {
  // expected-error @+1 {{end 96 exceeds size 64 of dim 1}}
  %0 = kiln.slice %x dim 1 [32 : 96] : tensor<?x64xf32> -> tensor<?x64xf32>
  return
}
