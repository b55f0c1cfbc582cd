func.func @transpose_permutation(%x: tensor<?x?x12x64xf32>) {
  // expected-error @+1 {{'kiln.transpose' op permutation [0, 2, 2, 3] is not a permutation of the 4 dims of 'tensor<?x?x12x64xf32>'}}
  %0 = kiln.transpose %x [0, 2, 2, 3] : tensor<?x?x12x64xf32> -> tensor<?x12x12x64xf32>
  return
}
