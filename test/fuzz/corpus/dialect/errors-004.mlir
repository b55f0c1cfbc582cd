func.func @iota_size(%x: tensor<?x8xi64>) {
  // expected-error @+1 {{result size 4 differs from size 8 of source dim 1}}
  %0 = kiln.iota %x dim 1 : tensor<?x8xi64> -> tensor<4xi64>
  return
}
