func.func @cache_write_type(%c: tensor<?x16x64xf32>, %u: tensor<?x1x64xbf16>, %p: tensor<?xi64>) {
  // expected-error @+1 {{cache element type 'f32' differs from new rows element type 'bf16'}}
  %0 = kiln.cache_write %c[%p] = %u : tensor<?x16x64xf32>, tensor<?x1x64xbf16>, tensor<?xi64>
  return
}
