func.func @cache_write_positions(%c: tensor<2x16x64xf32>, %u: tensor<2x1x64xf32>, %p: tensor<2x1xi64>) {
  // expected-error @+1 {{positions must be [batch] = [[2]], got 'tensor<2x1xi64>'}}
  %0 = kiln.cache_write %c[%p] = %u : tensor<2x16x64xf32>, tensor<2x1x64xf32>, tensor<2x1xi64>
  return
}
