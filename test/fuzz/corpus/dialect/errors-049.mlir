func.func @cache_write_rank(%c: tensor<?x64xf32>, %u: tensor<?x?x64xf32>, %p: tensor<?xi64>) {
  // expected-error @+1 {{'kiln.cache_write' op cache must be [batch, max_seq, width] (rank 3), got 'tensor<?x64xf32>'}}
  %0 = kiln.cache_write %c[%p] = %u : tensor<?x64xf32>, tensor<?x?x64xf32>, tensor<?xi64>
  return
}
