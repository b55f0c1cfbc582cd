func.func @softmax_dim(%x: tensor<?x?xf32>) {
  // expected-error @+1 {{'kiln.softmax' op dim -1 is out of range for rank 2}}
  %0 = kiln.softmax %x dim -1 : tensor<?x?xf32>
  return
}
