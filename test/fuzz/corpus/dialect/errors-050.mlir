func.func @cache_write_width(%c: tensor<?x16x64xf32>, %u: tensor<?x?x32xf32>, %p: tensor<?xi64>) {
  // expected-error @+1 {{new rows [?, ?, 32] do not fit cache [?, 16, 64] (expected [batch, seq, width])}}
  %0 = kiln.cache_write %c[%p] = %u : tensor<?x16x64xf32>, tensor<?x?x32xf32>, tensor<?xi64>
  return
}
