func.func @cache_write_rows(%c: tensor<?x16x64xf32>, %u: tensor<?x17x64xf32>, %p: tensor<?xi64>) {
  // expected-error @+1 {{17 new rows exceed the 16 rows of cache}}
  %0 = kiln.cache_write %c[%p] = %u : tensor<?x16x64xf32>, tensor<?x17x64xf32>, tensor<?xi64>
  return
}
