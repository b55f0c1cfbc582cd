func.func @reshape_dynamic_regroup(%x: tensor<?x?x12x64xf32>) {
  // expected-error @+1 {{cannot reshape [?, ?, 12, 64] to [?, 12, ?, 64]}}
  %0 = kiln.reshape %x : tensor<?x?x12x64xf32> -> tensor<?x12x?x64xf32>
  return
}
