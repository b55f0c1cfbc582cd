// One case per verifier message of the kiln dialect.

func.func @param_empty_name() {
  // expected-error @+1 {{'kiln.param' op needs a non-empty parameter name}}
  %0 = kiln.param "" : tensor<4xf32>
  return
}
