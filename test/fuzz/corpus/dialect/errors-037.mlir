func.func @concat_empty() {
  // expected-error @+1 {{'kiln.concat' op needs at least one input}}
  %0 = "kiln.concat"() {dim = 0 : i64} : () -> tensor<4xf32>
  return
}
